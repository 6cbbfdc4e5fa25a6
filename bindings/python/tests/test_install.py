"""`pip install bindings/python` offline, into a fresh virtual environment that
sees the system's NumPy, and the installed package imports and runs."""
import ctypes.util
import os
import shutil
import subprocess
import sys

import pytest

from conftest import MODEL, PKG_ROOT, TOKENIZER


def _env(**extra):
    # pip and venv run without a sanitizer runtime preloaded (python_test.sh preloads
    # it for the tests of an ASan library); the installed package's checks keep it.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONPATH")}
    env.update(extra)
    return env


def test_offline_install_into_venv(tmp_path):
    if subprocess.run([sys.executable, "-c", "import ensurepip, setuptools"]).returncode:
        pytest.skip("needs python3-venv and python3-setuptools")
    # pip builds in the source folder (build/, *.egg-info): build a copy.
    src = tmp_path / "src"
    shutil.copytree(PKG_ROOT, src, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, env=_env())
    py = str(venv / "bin" / "python")
    p = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                        "--disable-pip-version-check", str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env())
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    assert b"Successfully installed headwise" in p.stdout

    probe = ("import headwise, sys\n"
             "print(headwise.__file__)\n"
             "m = headwise.Model(%r, tokenizer=%r)\n"
             "print(m.encode('Once upon a time'))\n"
             "print(m.generate('Once upon a time', 12))\n" % (MODEL, TOKENIZER))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    r = subprocess.run([py, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = r.stdout.decode().splitlines()
    assert out[0].startswith(str(venv)) and out[0].endswith("headwise/__init__.py")
    assert out[1] == "[1, 403, 407, 261, 378]"
    assert out[2].startswith("Once upon a time")

    # Installed, away from the build tree and without HEADWISE_LIB, the library comes
    # from the system loader: absent here, that is an Error, not a crash.
    env.pop("HEADWISE_LIB", None)
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([py, "-c", "import headwise\ntry:\n    headwise.Model('x')\n"
                        "except headwise.Error as e:\n    print('Error:', e)\n"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    if ctypes.util.find_library("headwise") is None:
        assert r.stdout.startswith(b"Error: libheadwise.so not found")


def test_build_tree_found_without_env():
    """From the source tree, with no HEADWISE_LIB, the package finds the build's
    library itself (build/current, else build/rel)."""
    repo = os.path.normpath(os.path.join(PKG_ROOT, "..", ".."))
    want = [os.path.join(repo, b, "libheadwise.so") for b in ("build/current", "build/rel")]
    want = [w for w in want if os.path.isfile(w)]
    if not want:
        pytest.skip("no release build in this tree")
    env = _env()
    env.pop("HEADWISE_LIB", None)
    code = ("import sys; sys.path.insert(0, %r)\nimport headwise\n"
            "print(headwise.library_path())\n" % PKG_ROOT)
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd="/", env=env)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout.decode().strip() == want[0]

#!/usr/bin/env bash
# porter_nltk_test.sh: our Porter stemmer (ROUGE-1's stemmer for the Retrieval Head
# trial gate, methods.md section 1.1) against NLTK's PorterStemmer, which rouge_score
# uses, on every distinct word longer than 3 letters in NLTK's own sources and a list
# of words that take each of NLTK's special paths.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_scores
py=/usr/bin/python3
if ! $py -c 'import nltk' 2>/dev/null; then
    echo "FAIL porter_matches_nltk (python3-nltk missing: run scripts/install-deps.sh)"
    exit 1
fi
$py - "$bin" <<'PY'
import glob, os, re, subprocess, sys
import nltk
from nltk.stem import porter
words = set()
for f in sorted(glob.glob(os.path.join(os.path.dirname(nltk.__file__), '**/*.py'), recursive=True)):
    words.update(w for w in re.split(r'[^a-z0-9]+', open(f, errors='ignore').read().lower()) if len(w) > 3)
words.update("ties dies pies died cried skies dying lying tying news innings outings cannings "
             "howe proceed exceed succeed happily analogies logically fully fulli feed agreed "
             "bled hopping hoping filing falling sizing spying".split())
words = sorted(words)
out = subprocess.run([sys.argv[1], '--stem'], input='\n'.join(words), capture_output=True,
                     text=True, check=True).stdout.split('\n')
st = porter.PorterStemmer()
bad = [(w, s, st.stem(w)) for w, s in (l.split() for l in out if l) if st.stem(w) != s]
for b in bad[:10]:
    print('  %s: ours %s, NLTK %s' % b, file=sys.stderr)
print('%s porter_matches_nltk (%d words, %d differ)' % ('FAIL' if bad or len(words) < 5000 else 'PASS', len(words), len(bad)))
PY

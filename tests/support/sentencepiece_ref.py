"""SentencePiece reference for tests/integration/tokenizer (Debian's python3-sentencepiece).

  /usr/bin/python3 sentencepiece_ref.py train CORPUS PREFIX VOCAB   writes PREFIX.model: a BPE model with
      byte fallback, like Llama-2's (unk 0, bos 1, eos 2; the default NFKC normaliser)
  /usr/bin/python3 sentencepiece_ref.py encode MODEL TEXT OUT_JSON  the library's ids for TEXT
"""
import json
import sys

import sentencepiece as spm


def main():
    cmd = sys.argv[1]
    if cmd == "train":
        corpus, prefix, vocab = sys.argv[2], sys.argv[3], int(sys.argv[4])
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, vocab_size=vocab, model_type="bpe",
            byte_fallback=True, character_coverage=0.98, input_sentence_size=200000,
            max_sentence_length=16384, split_digits=True, minloglevel=2)
    elif cmd == "encode":
        sp = spm.SentencePieceProcessor(model_file=sys.argv[2])
        with open(sys.argv[3], encoding="utf-8") as f:
            text = f.read()
        with open(sys.argv[4], "w") as f:
            json.dump(sp.encode(text), f)
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

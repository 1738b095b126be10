#!/usr/bin/env bash
# Shared by compare.sh and compare-net.sh: creates, in the current directory and only if missing,
# the benchmark data of performance.md: base.bin (1 GiB AES-CTR keystream, incompressible,
# deterministic) and small/ (100 dirs x 200 files of 1-16 KiB, two thirds text, one third random).
gen_bench_data() {
  # (openssl dies of SIGPIPE when head has enough: not an error, whatever pipefail says)
  [ -f base.bin ] || (set +o pipefail; openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:pcp-bench -in /dev/zero 2>/dev/null | head -c 1G > base.bin)
  if [ ! -d small ]; then
    python3 - <<'PY'
import os, random
random.seed(5)
words = "the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet log line value".split()
for d in range(100):
    os.makedirs(f"small/d{d:03}", exist_ok=True)
    for f in range(200):
        n = random.randint(1024, 16384)
        if f % 3 == 2:
            data = random.randbytes(n)
        else:
            out, tot = [], 0
            while tot < n:
                w = random.choice(words); out.append(w); tot += len(w) + 1
            data = " ".join(out)[:n].encode()
        open(f"small/d{d:03}/f{f:03}", "wb").write(data)
PY
  fi
}

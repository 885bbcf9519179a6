#!/usr/bin/env bash
# Runs the same seeded commands with one binary; writes their outputs (timings stripped) to $2/.
set -u
BIN=$1; OUT=$2; mkdir -p $OUT; cd /work/main
export XDG_RUNTIME_DIR=$(mktemp -d) MESA_SHADER_CACHE_DIR=$(mktemp -d); chmod 700 $XDG_RUNTIME_DIR
strip() { sed -E 's/[0-9.]+ (tok\/s|tokens\/s|s)\b/T/g; s/\([0-9.]+ s[^)]*\)/(T)/g; s/driver [^)]*//' ; }
$BIN train --epochs 3 --dropout 0.2 --schedule warmup-linear --out $OUT/cls.safetensors 2>&1 | strip > $OUT/train.txt
$BIN transfer --from $OUT/cls.safetensors --method init --data data/uci_amazon.tsv --epochs 2 --lr 1e-3 --out $OUT/init.safetensors 2>&1 | strip > $OUT/init.txt
head -200 data/uci_imdb.tsv | cut -f2 > $OUT/target.txt
$BIN transfer --from $OUT/cls.safetensors --method dann --data data/uci_amazon.tsv --target $OUT/target.txt --epochs 2 --out $OUT/dann.safetensors 2>&1 | strip > $OUT/dann.txt
$BIN lm --train data/uci_imdb.tsv --valid data/uci_amazon.tsv --tokenizer words --embed 16 --hidden 16 --layers 1 --bptt 10 --batch-size 4 --epochs 2 --out $OUT/lm.safetensors 2>&1 | strip > $OUT/lm.txt
$BIN forecast --data ../shared/data/ts/AirPassengers.csv --window 24 --horizon 12 --season 12 --test-len 24 --valid-len 12 --epochs 6 --seasonal-residual --out $OUT/fc.safetensors 2>&1 | strip > $OUT/forecast.txt
echo finished

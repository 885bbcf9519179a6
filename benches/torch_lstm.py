#!/usr/bin/env python3
"""PyTorch peer of `lstm-transfer bench`: the same benchmarks at the same shapes, for ratios.

nn.LSTM forward and forward+backward (loss = mean of the output), and the same classifier training
step as ours: Embedding(10000, E) -> LSTM(E, H) -> last hidden state -> Linear(H, 2), cross-entropy,
Adam. CPU runs oneDNN, CUDA runs cuDNN (synchronised before the clock is read). Median of --runs after
--warmup. Prints one line per shape; --json writes {"device", "torch", "rows": [...]}.

  python3 benches/torch_lstm.py --device cpu --threads 2 --json torch.json
  python3 benches/torch_lstm.py --device cuda --shapes 64,64,128,256
"""
import argparse, json, statistics, time

import torch
import torch.nn as nn

VOCAB, CLASSES = 10_000, 2
SHAPES = ["64,64,128,256", "32,128,128,512", "1,256,128,256"]


class Classifier(nn.Module):
    def __init__(self, e, h):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, e)
        self.lstm = nn.LSTM(e, h)  # time-major, like ours
        self.fc = nn.Linear(h, CLASSES)

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embedding(tokens))
        return self.fc(h[-1])


def median_ms(fn, sync, warmup, runs):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--shapes", nargs="*", default=SHAPES, help="B,T,E,H")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    rows = []
    for shape in a.shapes:
        b, t, e, h = (int(v) for v in shape.split(","))
        torch.manual_seed(0)
        lstm = nn.LSTM(e, h).to(dev)
        x = torch.randn(t, b, e, device=dev)
        model = Classifier(e, h).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        tokens = torch.randint(0, VOCAB, (t, b), device=dev)
        labels = torch.randint(0, CLASSES, (b,), device=dev)

        def forward():
            with torch.no_grad():
                lstm(x)

        def forward_backward():
            out, _ = lstm(x)
            out.mean().backward()

        def train_step():
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(tokens), labels).backward()
            opt.step()

        r = {"b": b, "t": t, "e": e, "h": h}
        for key, fn in (("lstm_forward_ms", forward), ("lstm_forward_backward_ms", forward_backward), ("train_step_ms", train_step)):
            r[key] = median_ms(fn, sync, a.warmup, a.runs)
        rows.append(r)
        print(f"{name} | B={b} T={t} E={e} H={h} | lstm forward {r['lstm_forward_ms']:.2f} ms | forward+backward "
              f"{r['lstm_forward_backward_ms']:.2f} ms | train step {r['train_step_ms']:.2f} ms", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

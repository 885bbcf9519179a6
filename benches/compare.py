#!/usr/bin/env python3
"""Side-by-side ratios: `lstm-transfer bench --json` and the PyTorch peer (benches/torch_lstm.py), run
one after the other on the same machine, same shapes. Prints a markdown table; ratio = PyTorch ms / our
ms, so > 1 means we are faster. Optional: a Burn peer's milliseconds (from ../shared/peers/burn-lstm,
built outside the project) passed as --burn B,T,E,H=MS for the fwd+bwd row.

  python3 benches/compare.py --bin target/release/lstm-transfer --device cpu --threads 2
  python3 benches/compare.py --bin ./lstm-transfer --device cuda        # see benches/gpu-compare.sh
"""
import argparse, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = [("lstm forward", "lstm_forward_ms"), ("lstm forward+backward", "lstm_forward_backward_ms"),
         ("classifier train step", "train_step_ms")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/lstm-transfer")
    ap.add_argument("--device", default="cpu", help="PyTorch device: cpu or cuda")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shapes", nargs="*", default=["64,64,128,256", "32,128,128,512", "1,256,128,256"])
    ap.add_argument("--burn", nargs="*", default=[], help="B,T,E,H=MS: Burn's LSTM fwd+bwd on the same adapter")
    ap.add_argument("--out", help="also write both raw JSON results and the table into this folder")
    a = ap.parse_args()
    shape_args = [x for s in a.shapes for x in ("--shape", s)]
    ours = json.loads(subprocess.run([a.bin, "bench", "--json", "--repeats", str(a.repeats), *shape_args],
                                     check=True, capture_output=True, text=True).stdout)
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [sys.executable, os.path.join(HERE, "torch_lstm.py"), "--device", a.device, "--json", tmp.name, "--shapes", *a.shapes]
        if a.threads:
            cmd += ["--threads", str(a.threads)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        torch = json.load(open(tmp.name))
    burn = {k: float(v) for k, v in (x.split("=") for x in a.burn)}
    lines = [f"ours: {ours['adapter']}; ceilings FMA {ours['ceilings']['fma_gflops']:.1f} GFLOP/s, "
             f"memory {ours['ceilings']['stream_gbs']:.1f} GB/s",
             f"PyTorch {torch['torch']} on {torch['device']}", "",
             "| B,T,E,H | what | ours ms | PyTorch ms | PyTorch / ours | Burn ms | Burn / ours |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for shape in ours["shapes"]:
        rows = {r["what"]: r for r in shape["rows"]}
        s = rows["lstm forward"]["shape"]
        key = f"{s['b']},{s['t']},{s['e']},{s['h']}"
        peer = next(r for r in torch["rows"] if (r["b"], r["t"], r["e"], r["h"]) == (s["b"], s["t"], s["e"], s["h"]))
        for what, peer_key in PAIRS:
            ms = rows[what]["gpu_ms"] or rows[what]["wall_ms"]
            b = burn.get(key) if what == "lstm forward+backward" else None
            burn_cols = f"{b:.1f} | {b / ms:.2f}" if b else "- | -"
            lines.append(f"| {key} | {what} | {ms:.2f} | {peer[peer_key]:.2f} | {peer[peer_key] / ms:.3f} | {burn_cols} |")
    table = "\n".join(lines)
    print(table)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        json.dump(ours, open(os.path.join(a.out, "ours.json"), "w"), indent=1)
        json.dump(torch, open(os.path.join(a.out, "torch.json"), "w"), indent=1)
        open(os.path.join(a.out, "compare.md"), "w").write(table + "\n")


if __name__ == "__main__":
    main()

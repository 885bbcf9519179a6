"""Research probe, in PyTorch: does a language model of a size trainable here give a ULMFiT-style gain?

    python3 torch_lm_probe.py SETUP E H LM_EPOCHS LM_DROPOUT
SETUP  uci:  LM on Rotten Tomatoes text -> UCI Amazon, Yelp, IMDb (500 fixed test rows; n = 100, 200)
       rt:   LM on Rotten Tomatoes text minus 600 held-out rows -> RT itself, 500 of those as test (n = 100, 200, 500)
       trec: LM on the PTB training text -> TREC coarse (6 classes; n = 100, 300)
Methods per target, 5 seeds: scratch (lr 3e-3), full (LM embedding + LSTM, all trained, lr 1e-3), frozen
(LM embedding + LSTM frozen, head only, lr 1e-2). Embedding -> LSTM -> max pooling -> dropout 0.3 -> linear;
30 epochs, batch 16, the epoch picked on 20 % of the n labels. Prints mean +- std test accuracy and the mean
paired difference to scratch. Paths are relative to the repository root's parent (../shared).
"""
import re, random, sys, time, math, collections, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
SETUP = sys.argv[1]
E, H, LM_EPOCHS, DROP_LM = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
SHARED = '/work/shared' if len(sys.argv) < 7 else sys.argv[6]
tok = lambda t: re.findall(r"\w+(?:'\w+)?", t.lower())
def read(p): return [(int(l.split('\t',1)[0]), tok(l.split('\t',1)[1])) for l in open(p) if '\t' in l]
if SETUP == 'trec':
    rt = [(0, tok(l)) for l in open(f'{SHARED}/data/lm/ptb/ptb.train.txt')]
    cnt = collections.Counter(w for _, s in rt for w in s)
    itos = ['<pad>', '<unk>', '<eos>'] + [w for w, c in cnt.most_common(9997) if c >= 1]
else:
    rt = read(f'{SHARED}/data/sentiment/rotten_tomatoes.tsv')
    cnt = collections.Counter(w for _, s in rt for w in s)
    itos = ['<pad>', '<unk>', '<eos>'] + [w for w, c in cnt.most_common(7997) if c >= 2]
CLASSES = 6 if SETUP == 'trec' else 2
stoi = {w: i for i, w in enumerate(itos)}
ids = lambda s: [stoi.get(w, 1) for w in s]
random.seed(0); random.shuffle(rt)
HELD = 2000 if SETUP == 'trec' else 600
held = rt[:HELD]; trn = rt[HELD:]
def stream(rows): return torch.tensor([i for _, s in rows for i in ids(s) + [2]])
class Enc(nn.Module):
    def __init__(s, V): super().__init__(); s.emb = nn.Embedding(V, E); s.lstm = nn.LSTM(E, H, batch_first=True)
torch.manual_seed(0)
enc = Enc(len(itos)); dec = nn.Linear(H, len(itos)); drop = nn.Dropout(DROP_LM)
opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), 2e-3)
def lm_loss(data, train, B=20, T=35):
    n = len(data) // B; d = data[:n * B].view(B, n); st = None; tot = 0; cntt = 0
    for i in range(0, n - 1, T):
        x = d[:, i:i + T]; y = d[:, i + 1:i + 1 + T]; x = x[:, :y.shape[1]]
        o, st = enc.lstm(drop(enc.emb(x)) if train else enc.emb(x), st); st = tuple(s.detach() for s in st)
        loss = F.cross_entropy(dec(drop(o) if train else o).reshape(-1, len(itos)), y.reshape(-1))
        if train: opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(opt.param_groups[0]['params'], 5); opt.step()
        tot += loss.item() * y.numel(); cntt += y.numel()
    return math.exp(tot / cntt)
t0 = time.time(); ts, hs = stream(trn), stream(held)
for ep in range(LM_EPOCHS):
    enc.train(); tr = lm_loss(ts, True)
    with torch.no_grad(): va = lm_loss(hs, False)
    print(f'LM E={E} H={H} ep {ep+1} train ppl {tr:.1f} held ppl {va:.1f} ({time.time()-t0:.0f}s)', flush=True)
lm_state = {k: v.clone() for k, v in enc.state_dict().items()}
class Clf(nn.Module):
    def __init__(s, V): super().__init__(); s.enc = Enc(V); s.drop = nn.Dropout(0.3); s.head = nn.Linear(H, CLASSES)
    def forward(s, x, m):
        o, _ = s.enc.lstm(s.enc.emb(x)); o = o.masked_fill(~m.unsqueeze(-1), -1e9)
        return s.head(s.drop(o.max(1).values))
def batch(rows, vocab):
    L = min(64, max(len(s) for _, s in rows) or 1)
    x = torch.zeros(len(rows), L, dtype=torch.long); m = torch.zeros(len(rows), L, dtype=torch.bool)
    for r, (_, s) in enumerate(rows):
        s = [vocab.get(w, 1) for w in s][:L] or [1]; x[r, :len(s)] = torch.tensor(s); m[r, :len(s)] = True
    return x, m, torch.tensor([y for y, _ in rows])
def run(method, train, valid, test, seed):
    torch.manual_seed(seed)
    vocab = dict(stoi)
    for _, s in train:
        for w in s: vocab.setdefault(w, len(vocab))
    model = Clf(len(vocab))
    if method != 'scratch':
        with torch.no_grad():
            model.enc.emb.weight[:len(itos)] = lm_state['emb.weight']
            for k, v in lm_state.items():
                if k.startswith('lstm.'): getattr(model.enc.lstm, k[5:]).copy_(v)
    if method == 'frozen':
        for p in model.enc.parameters(): p.requires_grad = False
    lr = {'scratch': 3e-3, 'full': 1e-3, 'frozen': 1e-2}[method]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr)
    best = (-1, 0)
    xv, mv, yv = batch(valid, vocab); xt, mt, yt = batch(test, vocab)
    for ep in range(30):
        model.train(); random.Random(seed * 100 + ep).shuffle(train)
        for i in range(0, len(train), 16):
            x, m, y = batch(train[i:i + 16], vocab); loss = F.cross_entropy(model(x, m), y)
            opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(model.parameters(), 5); opt.step()
        model.eval()
        with torch.no_grad():
            va = (model(xv, mv).argmax(1) == yv).float().mean().item()
            if va > best[0]: best = (va, (model(xt, mt).argmax(1) == yt).float().mean().item())
    return best[1]
LABELS = {}
def read_named(p):
    out = []
    for l in open(p):
        if '\t' not in l: continue
        a, b = l.split('\t', 1); out.append((LABELS.setdefault(a, len(LABELS)), tok(b)))
    return out
def targets():
    if SETUP == 'rt':
        yield 'rt', held[:500], trn, [100, 200, 500]
        return
    for tgt in (['trec'] if SETUP == 'trec' else ['amazon', 'yelp', 'imdb']):
        rows = read_named(f'{SHARED}/data/topic/trec_coarse.tsv') if tgt == 'trec' else read(f'{SHARED}/data/sentiment/uci_{tgt}.tsv')
        random.Random(0).shuffle(rows)
        yield tgt, rows[:500], rows[500:], ([100, 300] if tgt == 'trec' else [100, 200])
for tgt, test, pool, budgets in targets():
    for n in budgets:
        res = collections.defaultdict(list)
        for seed in range(1, 6):
            p = pool[:]; random.Random(seed).shuffle(p); lab = p[:n]; nv = n // 5
            for method in ['scratch', 'full', 'frozen']:
                res[method].append(run(method, lab[nv:][:], lab[:nv], test, seed))
        sc = torch.tensor(res['scratch'])
        print(tgt, n, '  '.join(f"{m} {100*torch.tensor(v).mean():.1f}±{100*torch.tensor(v).std():.1f} Δ{100*(torch.tensor(v)-sc).mean():+.1f}" for m, v in res.items()), flush=True)

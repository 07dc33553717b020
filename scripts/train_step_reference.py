"""One SWAN training step in plain PyTorch, written from ../shared/spec/SWAN.md ("Training recipe" and the model
sections), as the peer that `swan bench --train` is measured against.

    .venv/bin/python scripts/train_step_reference.py check [SHARED_DIR]
        Loads swan-hashinit seed-1 weights and the inputs of SHARED_DIR/reference/train-seed1 (default $SWAN_SHARED, else ../shared),
        runs one step with Dropout off and BatchNorm in training mode, and compares the scores and both losses with
        train_step.json (<= 1e-5, its README's tolerance), and the trainable tensors' names; reports how far the
        sampled post-Adam values are from the reference's. Exit 1 on a mismatch.
    .venv/bin/python scripts/train_step_reference.py bench [--batch 32] [--steps 5] [--warmup 1] [--threads N]
                                                    [--device cpu|cuda] [--precision fp32|tf32|bf16|fp16]
        Times whole training steps (forward in training mode with Dropout, VSE hinge loss, backward, Adam; bf16 and
        fp16 under torch.autocast, fp16 with torch.amp.GradScaler; TF32 as `swan train --precision` sets it) on a
        synthetic batch (the same shapes `swan bench --train` uses: images 3x256x256, captions of lengths
        cycling 8..=22, padded to the longest) and prints one JSON line with samples/s.

The model is the reference's computation with its quirks (MHAtt's swapped arguments, GA's floor division, no
padding mask); the dead `tcge.conv1d_block_*` branch has its weights but is not run, as swan does not run it (its
output is never gathered). The ResNet-50's parameters are frozen; its BatchNorm layers run in training mode.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- ResNet-50 (torchvision layout: stride in the 3x3 conv) ------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, inp, width, stride, down):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.downsample = nn.Sequential(nn.Conv2d(inp, width * 4, 1, stride, bias=False), nn.BatchNorm2d(width * 4)) if down else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inp = 64
        for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            layer = []
            for j in range(blocks):
                layer.append(Bottleneck(inp, width, stride if j == 0 else 1, j == 0))
                inp = width * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(2048, 30)  # in checkpoints, never used

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        d1 = self.layer2(self.layer1(h))
        d2 = self.layer3(d1)
        return h, d1, d2, self.layer4(d2)


# --- pieces with the reference's names ----------------------------------------------------------------------------
class FC(nn.Module):
    """`linear`, ReLU, Dropout."""

    def __init__(self, i, o, p):
        super().__init__()
        self.linear = nn.Linear(i, o)
        self.drop = nn.Dropout(p)

    def forward(self, x):
        return self.drop(F.relu(self.linear(x)))


class MLP(nn.Module):
    def __init__(self, i, mid, o, p):
        super().__init__()
        self.fc = FC(i, mid, p)
        self.linear = nn.Linear(mid, o)

    def forward(self, x):
        return self.linear(self.fc(x))


def conv_bn(i, o, k, s):
    return nn.Sequential(nn.Conv2d(i, o, k, s, 0, bias=False), nn.BatchNorm2d(o))


def l2norm(x):
    return x / (x.pow(2).sum(-1, keepdim=True).sqrt() + 1e-8)


class VMSF(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_512 = nn.Conv2d(512, 512, 1)
        self.conv_1024 = nn.Conv2d(1024, 512, 1)
        self.conv_2048 = nn.Conv2d(2048, 1024, 1)
        self.channel_att = conv_bn(2048, 512, 1, 1)
        self.channel_filter = MLP(512, 1024, 512, 0.2)

    def forward(self, d1, d2, d3):
        a = self.conv_512(d1)[:, :, ::2, ::2]
        b = self.conv_1024(d2)
        c = F.interpolate(self.conv_2048(d3), scale_factor=2, mode="nearest")
        m = F.relu(self.channel_att(torch.cat([a, b, c], 1)))
        return self.channel_filter(m.mean((2, 3)))


class MHAtt(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear_v, self.linear_k, self.linear_q, self.linear_merge = (nn.Linear(512, 512) for _ in range(4))
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        b = x.shape[0]
        heads = lambda t: t.view(b, -1, 8, 64).transpose(1, 2)
        v, k, q = heads(self.linear_v(x)), heads(self.linear_k(x)), heads(self.linear_q(x))
        # The reference's att(k, q, v) is called as att(v, k, q): softmax(K V^T / 8) Q.
        att = self.drop(torch.softmax(k @ v.transpose(-2, -1) / 8.0, -1)) @ q
        return self.linear_merge(att.transpose(1, 2).reshape(b, -1, 512))


class FFN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(512, 1024), nn.GELU(), nn.Dropout(0.1), nn.Linear(1024, 512))

    def forward(self, x):
        return self.net(x)


class WSA(nn.Module):
    def __init__(self):
        super().__init__()
        self.mhatt, self.ffn = MHAtt(), FFN()
        self.norm1, self.norm2 = nn.LayerNorm(512), nn.LayerNorm(512)
        self.drop1, self.drop2 = nn.Dropout(0.1), nn.Dropout(0.1)
        self.fmp_weight = nn.Parameter(torch.zeros(1, 128, 512))

    def forward(self, x):
        x = self.norm1(x + self.drop1(self.mhatt(x)))
        x = self.norm2(x + self.drop2(self.ffn(x)))
        return (self.fmp_weight.transpose(1, 2) @ x).mean(1)


class SFGS(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d_block_11 = conv_bn(32, 32, 1, 1)
        self.conv2d_block_33 = conv_bn(32, 32, 3, 3)
        self.conv2d_block_55 = conv_bn(32, 64, 5, 5)
        self.fc = FC(256, 512, 0.1)
        self.wsa = WSA()

    def forward(self, s):
        b = s.shape[0]
        blocks = [self.conv2d_block_11, self.conv2d_block_33, self.conv2d_block_55]
        v = torch.cat([F.adaptive_avg_pool2d(F.relu(blk(s)), 16).reshape(b, -1, 256) for blk in blocks], 1)
        return self.wsa(self.fc(v))


class ImageEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = ResNet50()
        self.vmsf = VMSF()
        self.conv_filter = nn.Sequential(nn.Conv2d(64, 32, 1, bias=False), nn.BatchNorm2d(32))


class TextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(8590, 300)
        self.rnn = nn.GRU(300, 512, 1, batch_first=True, bidirectional=True)
        self.projection = nn.Linear(512, 512)  # in checkpoints, never used
        self.drop = nn.Dropout(0.4)

    def forward(self, ids, lengths):
        x = self.drop(self.embed(ids))
        packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return (out[:, :, :512] + out[:, :, 512:]) / 2


class GA(nn.Module):
    def __init__(self):
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(512, 512) for _ in range(3)])
        self.fc_q, self.fc_k, self.fc_g = nn.Linear(256, 256), nn.Linear(256, 256), nn.Linear(256, 512)

    def forward(self, x):
        b = x.shape[0]
        q, k, v = (l(x).view(b, -1, 2, 256).transpose(1, 2) for l in self.linears)
        m = torch.sigmoid(self.fc_g(self.fc_q(q) * self.fc_k(k)))
        q, k = q * m[..., :256], k * m[..., 256:]
        # Floor division, as the reference: its gradient is zero, so GA never trains.
        scores = torch.div(q @ k.transpose(-2, -1), 16.0, rounding_mode="floor")
        return (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, -1, 512)


class TCGE(nn.Module):
    def __init__(self):
        super().__init__()
        self.ga = GA()
        self.bn_1d = nn.BatchNorm1d(512)
        self.drop = nn.Dropout(0.2)
        self.mlp = MLP(512, 1024, 512, 0.0)
        # The dead branch's weights, so that names and trainable tensors match the reference (85); never run:
        # its output is never gathered, so its gradient is zero there and Adam leaves it unchanged either way.
        self.conv1d_block_22 = nn.Sequential(nn.Conv1d(512, 512, 2), nn.BatchNorm1d(512))
        self.conv1d_block_33 = nn.Sequential(nn.Conv1d(512, 512, 3), nn.BatchNorm1d(512))

    def forward(self, cap, lengths):
        x = cap + self.drop(self.bn_1d(self.ga(cap).transpose(1, 2)).transpose(1, 2))
        e = self.mlp(x) + x
        return e[torch.arange(len(lengths)), torch.tensor(lengths) - 1]


class Agg(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc_1, self.fc_2 = nn.Linear(1024, 512), nn.Linear(512, 512)

    def forward(self, vl, vg):
        return self.fc_2(F.relu(self.fc_1(torch.cat([vl, vg], 1))))


class SWAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.image_encoder = ImageEncoder()
        self.text_encoder = TextEncoder()
        self.sfgs = SFGS()
        self.agg = Agg()
        self.tcge = TCGE()
        for p in self.image_encoder.resnet.parameters():
            p.requires_grad_(False)

    def forward(self, images, ids, lengths):
        ie = self.image_encoder
        h, d1, d2, d3 = ie.resnet(images)
        s = F.relu(ie.conv_filter(h))
        img = l2norm(self.agg(self.sfgs(s), ie.vmsf(d1, d2, d3)))
        txt = l2norm(self.tcge(self.text_encoder(ids, lengths), lengths))
        return img @ txt.t()


def vse_hinge(scores, margin=0.2, max_violation=False):
    d = scores.diag().view(-1, 1)
    eye = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    cost_s = (margin + scores - d.expand_as(scores)).clamp(min=0).masked_fill(eye, 0)
    cost_im = (margin + scores - d.t().expand_as(scores)).clamp(min=0).masked_fill(eye, 0)
    if max_violation:
        return cost_s.max(1)[0].sum() + cost_im.max(0)[0].sum()
    return cost_s.sum() + cost_im.sum()


def hashinit_model(hashinit):
    """SWAN with the swan-hashinit v1 seed-1 weights (shared/reference/hashinit.py), as `swan bench --train` starts."""
    model = SWAN()
    sd = model.state_dict()
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(hashinit.param_value(k, tuple(v.shape), 1))).to(v.dtype)
                           for k, v in sd.items()})
    return model


def trainable(model):
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


# --- check against train-seed1 ------------------------------------------------------------------------------------
def check(shared):
    sys.path.insert(0, os.path.join(shared, "reference"))
    import hashinit

    ref = os.path.join(shared, "reference", "train-seed1")
    torch.set_num_threads(2)
    model = hashinit_model(hashinit)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    x = torch.from_numpy(np.load(os.path.join(ref, "train_input_images.npy")))
    ids = torch.from_numpy(np.load(os.path.join(ref, "train_input_token_ids.npy")))
    lengths = [int(v) for v in np.load(os.path.join(ref, "train_input_lengths.npy"))]
    want = json.load(open(os.path.join(ref, "train_step.json")))
    params = trainable(model)
    opt = torch.optim.Adam([p for _, p in params], lr=2e-4)
    scores = model(x, ids, lengths)
    loss = vse_hinge(scores)
    loss_max = vse_hinge(scores.detach(), max_violation=True).item()
    opt.zero_grad()
    loss.backward()
    opt.step()
    problems = []
    ds = float(np.abs(scores.detach().numpy() - np.load(os.path.join(ref, "train_scores.npy"))).max())
    if ds > 1e-5:
        problems.append(f"scores differ by {ds:.3g}")
    for key, got in [("loss_sum", loss.item()), ("loss_max_violation", loss_max)]:
        if abs(got - want[key]) > 1e-5:
            problems.append(f"{key} {got} != {want[key]}")
    if len(params) != len(want["params"]):
        problems.append(f"{len(params)} trainable tensors, the reference has {len(want['params'])}")
    # The bias of GA's value projection (tcge.ga.linears.2.bias) has a gradient that is zero in exact
    # arithmetic: attention rows sum to 1, so the bias shifts every position's output by one vector per
    # feature, which bn_1d's batch mean then removes. What the reference records for it is rounding noise
    # (multiples of 2^-26 up to 2.3e-6), and Adam's first step turns noise of either sign into about
    # +-lr, so its post-step values are reported apart; every other sampled value must be within 1e-6.
    noise_only = {"tcge.ga.linears.2.bias"}
    worst, worst_name, noise = 0.0, None, 0.0
    for n, p in params:
        r = want["params"].get(n)
        if r is None:
            problems.append(f"{n} is not trainable in the reference")
            continue
        flat = p.detach().reshape(-1)
        for i, g, a in zip(r["sample_index"], r["grad_sample"], r["after_sample"]):
            d = abs(float(flat[i]) - a)
            if n in noise_only:
                noise = max(noise, d)
            elif abs(g) >= 1e-6 and d > worst:
                worst, worst_name = d, n
    print(f"train_step_reference: post-Adam sampled values differ by up to {worst:.3g} ({worst_name}); "
          f"{noise:.3g} in {', '.join(sorted(noise_only))} (rounding-noise gradient)", file=sys.stderr)
    if worst > 1e-6:
        problems.append(f"post-Adam value of {worst_name} differs by {worst:.3g} (> 1e-6)")
    print(json.dumps({"loss_sum": loss.item(), "want_loss_sum": want["loss_sum"], "loss_max_violation": float(loss_max),
                      "want_loss_max_violation": want["loss_max_violation"], "scores_max_abs_diff": ds,
                      "post_adam_max_abs_diff": worst, "post_adam_noise_gradient_max_abs_diff": noise, "trainable_tensors": len(params), "ok": not problems}))
    for p in problems:
        print("train_step_reference: " + p, file=sys.stderr)
    return 0 if not problems else 1


# --- bench ----------------------------------------------------------------------------------------------------------
def synthetic_batch(batch, device):
    """The batch `swan bench --train` builds: normal images, caption lengths 8..=22 cycling, ids 1..=90, sorted longest first."""
    g = torch.Generator().manual_seed(1)
    images = torch.randn(batch, 3, 256, 256, generator=g)
    lengths = sorted([8 + (i % 15) for i in range(batch)], reverse=True)
    ids = torch.zeros(batch, lengths[0], dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = 1 + (torch.arange(n) * 7 + b * 13) % 90
    return images.to(device), ids.to(device), lengths


def bench(args):
    opts = {"--batch": 32, "--steps": 5, "--warmup": 1, "--threads": 0, "--device": "cpu", "--precision": "fp32"}
    it = iter(args)
    for a in it:
        if a not in opts:
            raise SystemExit(f"train_step_reference: unknown option {a}")
        opts[a] = type(opts[a])(next(it))
    if opts["--threads"]:
        torch.set_num_threads(opts["--threads"])
    device = torch.device(opts["--device"])
    prec = opts["--precision"]
    if prec not in ("fp32", "tf32", "bf16", "fp16"):
        raise SystemExit(f"train_step_reference: unknown precision {prec}")
    if device.type == "cuda":
        # As swan: fp32 = TF32 off everywhere (swan sets NVIDIA_TF32_OVERRIDE=0); every other
        # precision keeps PyTorch's defaults (cuDNN convolutions in TF32, matmuls in fp32).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = prec != "fp32"
    elif prec == "fp16":
        raise SystemExit("train_step_reference: fp16 runs on CUDA only")
    torch.manual_seed(1)
    # Same weights as swan's side (hashinit seed 1) where the reference's generator is at hand, so that both
    # sides' losses start equal (Dropout's masks aside) and fall alike; else PyTorch's default init.
    shared = os.environ.get("SWAN_SHARED") or os.path.join(ROOT, "..", "shared")
    weights = "torch-default-init"
    if os.path.exists(os.path.join(shared, "reference", "hashinit.py")):
        sys.path.insert(0, os.path.join(shared, "reference"))
        import hashinit

        model, weights = hashinit_model(hashinit), "swan-hashinit-v1-seed1"
    else:
        model = SWAN()
    model = model.to(device).train()
    opt = torch.optim.Adam([p for _, p in trainable(model)], lr=2e-4)
    scaler = torch.amp.GradScaler(device.type) if prec == "fp16" else None
    images, ids, lengths = synthetic_batch(opts["--batch"], device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = vse_hinge(model(images, ids, lengths).float())
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return float(loss)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(opts["--warmup"]):
        step()
    sync()
    t0 = time.perf_counter()
    losses = [step() for _ in range(opts["--steps"])]
    sync()
    dt = time.perf_counter() - t0
    print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "device": str(device), "precision": prec,
                      "batch": opts["--batch"], "steps": opts["--steps"], "seconds": dt,
                      "loss_scale": scaler.get_scale() if scaler else None,
                      "samples_per_s": opts["--batch"] * opts["--steps"] / dt, "threads": torch.get_num_threads(),
                      "loss_first": losses[0], "loss_last": losses[-1], "weights": weights}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "check":
        default = os.environ.get("SWAN_SHARED") or os.path.join(ROOT, "..", "shared")
        sys.exit(check(sys.argv[2] if len(sys.argv) > 2 else default))
    if len(sys.argv) >= 2 and sys.argv[1] == "bench":
        sys.exit(bench(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)

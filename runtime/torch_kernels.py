"""Runtime stage 6c (emission only): the PyTorch helpers `netc compile --emit torch` copies.

Each op's PyTorch form is a template in its descriptor (`OpDef.torch`, compiler/ops/*.py);
the forms that are more than one expression call one of the helpers below, as the NumPy
templates call the kernels in kernels.py. They are text, never run here: netc does not
import torch (torch_emit.py copies the ones a network uses into its module). Each is the
same math as netc's kernel of that name, written with autograd's operations, so the
gradients are autograd's: DLFS-2's gate orders (LSTM f, g, i, o; GRU z, r, h), inverted
dropout and batchnorm's biased batch variance as netc's kernels have them.
"""

from __future__ import annotations

TORCH_KERNELS: dict[str, str] = {
    "dropout": '''
def dropout(x, p, training, uniform):
    """Inverted dropout, as netc's: mask = (u >= p) / (1 - p) from `uniform`'s draws (an
    image's drawn channel-major, (c, n, h, w), in the order netc draws them)."""
    if not training:
        return x
    if x.dim() == 4:
        u = uniform((x.shape[1], x.shape[0], *x.shape[2:])).permute(1, 0, 2, 3)
    else:
        u = uniform(tuple(x.shape))
    mask = (u >= p).to(x.dtype) * (1.0 / (1.0 - p))
    return x * mask
''',
    "batchnorm": '''
def batchnorm(x, gamma, beta, mean, var, momentum, eps, training):
    """Per feature of a vector, per channel of an image (n, c, h, w); in training the batch
    statistics (biased variance) also move the running ones by `momentum`, as netc's."""
    axes, shape = ((0, 2, 3), (1, -1, 1, 1)) if x.dim() == 4 else ((0,), (1, -1))
    if training:
        mu = x.mean(axes)
        sq = ((x - mu.reshape(shape)) ** 2).mean(axes)
        with torch.no_grad():
            mean.mul_(momentum).add_((1 - momentum) * mu)
            var.mul_(momentum).add_((1 - momentum) * sq)
    else:
        mu, sq = mean, var
    xhat = (x - mu.reshape(shape)) / torch.sqrt(sq.reshape(shape) + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape)
''',
    "add": '''
def add(*xs):
    """x0 + x1 + ..., in order."""
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out
''',
    "concat": '''
def concat(*xs):
    """Side by side on the last axis (images: on the channels); a vector beside sequences
    is repeated at every step (DLFS-2's peeky decoder)."""
    if all(x.dim() == 4 for x in xs):
        return torch.cat(xs, 1)
    steps = [x.shape[1] for x in xs if x.dim() == 3]
    if steps:
        xs = [x[:, None].expand(-1, steps[0], -1) if x.dim() == 2 else x for x in xs]
    return torch.cat(xs, -1)
''',
    "rnn": '''
def rnn(x, Wx, Wh, b, h=None):
    """h' = tanh(x Wx + h Wh + b) at every step, from h (zeros when None).  x (n, T, D)."""
    A = x @ Wx + b
    h = A.new_zeros(len(x), Wh.shape[0]) if h is None else h
    out = []
    for t in range(x.shape[1]):
        h = torch.tanh(A[:, t] + h @ Wh)
        out.append(h)
    return torch.stack(out, 1)
''',
    "lstm": '''
def lstm(x, Wx, Wh, b, h=None):
    """DLFS-2 6.3, gates f, g, i, o: c' = f*c + g*i, h' = o*tanh(c'); the cell starts at
    zero, h at `h` (zeros when None).  x (n, T, D), Wx (D, 4H), Wh (H, 4H)."""
    H = Wh.shape[0]
    A = x @ Wx + b
    h = A.new_zeros(len(x), H) if h is None else h
    c = A.new_zeros(len(x), H)
    out = []
    for t in range(x.shape[1]):
        a = A[:, t] + h @ Wh
        f, g = torch.sigmoid(a[:, :H]), torch.tanh(a[:, H:2 * H])
        i, o = torch.sigmoid(a[:, 2 * H:3 * H]), torch.sigmoid(a[:, 3 * H:])
        c = f * c + g * i
        h = o * torch.tanh(c)
        out.append(h)
    return torch.stack(out, 1)
''',
    "gru": '''
def gru(x, Wx, Wh, b, h=None):
    """DLFS-2's GRU, gates z, r, h: hh = tanh(x Wxh + (r*h) Whh + bh),
    h' = (1 - z)*h + z*hh; h starts at `h` (zeros when None).  x (n, T, D)."""
    H = Wh.shape[0]
    A = x @ Wx + b
    h = A.new_zeros(len(x), H) if h is None else h
    out = []
    for t in range(x.shape[1]):
        zr = torch.sigmoid(A[:, t, :2 * H] + h @ Wh[:, :2 * H])
        z, r = zr[:, :H], zr[:, H:]
        hh = torch.tanh(A[:, t, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
        h = h + z * (hh - h)
        out.append(h)
    return torch.stack(out, 1)
''',
    "attention": '''
def attention(hd, hs):
    """DLFS-2 ch. 8: a = softmax(hd hs^T) over the encoder's steps; out = a hs."""
    return torch.softmax(hd @ hs.transpose(1, 2), -1) @ hs
''',
    "softmax_ce": '''
def softmax_ce(x, t):
    """Mean cross-entropy of softmax(x) over the rows (and the steps of a sequence);
    t class ids, or rows of k values (one-hot or soft)."""
    logp = torch.log_softmax(x, -1).reshape(-1, x.shape[-1])
    if t.dtype.is_floating_point:
        return -(t.reshape(logp.shape) * logp).sum() / len(logp)
    return -logp.gather(1, t.reshape(-1, 1)).sum() / len(logp)
''',
    "sigmoid_ce": '''
def sigmoid_ce(x, t):
    """sum over outputs, mean over rows, of max(x, 0) - x*t + log1p(exp(-|x|))."""
    t = t.reshape(x.shape)
    loss = x.clamp(min=0) - x * t + torch.log1p(torch.exp(-x.abs()))
    return loss.sum() / len(x)
''',
    "mse": '''
def mse(x, t):
    """0.5 * sum((x - t)^2) / n."""
    return 0.5 * ((x - t.reshape(x.shape)) ** 2).sum() / len(x)
''',
    "ns_loss": '''
def ns_loss(h, t, W, table, k, uniform):
    """DLFS-2 ch. 4 negative sampling, as netc's: k negatives a row drawn by the cumulative
    weights `table` (`uniform`'s draws; all zero: uniformly), the target's score s0 and
    theirs; loss = mean over rows of softplus(-s0) + sum softplus(s_j)."""
    n = len(h)
    if float(table[-1]) > 0:
        draw = uniform((n, k)).to(table.dtype) * table[-1]
        negatives = torch.searchsorted(table, draw, right=True).clamp(max=len(table) - 1)
    else:
        negatives = torch.randint(0, len(table), (n, k), device=h.device)
    idx = torch.cat([t.reshape(-1, 1), negatives], 1)
    s = torch.einsum("nd,nkd->nk", h, W[idx])
    s = torch.cat([-s[:, :1], s[:, 1:]], 1)
    return (s.clamp(min=0) + torch.log1p(torch.exp(-s.abs()))).sum() / n
''',
}

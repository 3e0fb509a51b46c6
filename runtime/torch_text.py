"""Runtime stage 6c (emission only): the fixed part of a `netc compile --emit torch` module.

torch_emit.py writes each network's constants and its `graph`/`forward` methods; the text
here is the same for every network: the `Net` module's parameters under netc's keys and
netc's initialisation, the loading and exporting of netc's arrays, netc's optimizers (the
update rules of runtime/optim.py, with weight decay and clipping as the Trainer applies
them) and the training loop and command line of the `--emit python` module. Text only:
netc never imports torch.
"""

from __future__ import annotations

from .generated import MAIN_HEAD

NET_HEAD = '''
class Net(nn.Module):
    """The network as a PyTorch module; its parameters and state buffers carry netc's keys
    ("0.affine.W"), so `state_dict()` has the keys of netc's `net.params` and `net.buffers`.

    `params` (and `buffers`): name -> array, as netc's `net.params` (`net.buffers`); None
    draws them from `seed` as `netc.load(spec, seed=seed)` does. `uniform(shape)` gives the
    U[0, 1) draws of dropout and negative sampling; replace it to choose them.
    """

    def __init__(self, params=None, buffers=None, dtype=SETTINGS["dtype"],
                 seed=SETTINGS["seed"]):
        super().__init__()
        self.dtype = getattr(torch, str(dtype))
        rng = np.random.default_rng(seed)  # draws the init as netc's build does
        for key, shape, scheme, std in INITS:
            if scheme == "normal":  # float64 draws, scaled, then cast: as netc draws them
                value = rng.standard_normal(int(np.prod(shape))).reshape(shape) * std
            else:
                value = np.full(shape, 1.0 if scheme == "ones" else 0.0)
            _register(self, key, nn.Parameter(torch.tensor(value, dtype=self.dtype)))
        for key, shape, init in BUFFERS:
            value = torch.full(shape, 1.0 if init == "ones" else 0.0, dtype=self.dtype)
            _register(self, key, value, buffer=True)
        self.uniform = self.draw
        if params is not None or buffers is not None:
            self.load_netc_params(params or {}, buffers)

    @classmethod
    def from_netc(cls, net):
        """A module holding a copy of netc `Network` `net`'s parameters, buffers and dtype."""
        return cls(dict(net.params), dict(net.buffers), dtype=str(net.dtype))

    def draw(self, shape):
        return torch.rand(shape, dtype=self.dtype, device=next(self.parameters()).device)

    def arrays(self):
        """Every parameter and state buffer by netc's key."""
        return {**dict(self.named_parameters()), **dict(self.named_buffers())}

    @torch.no_grad()
    def load_netc_params(self, params, buffers=None):
        """Copy netc's arrays (name -> array, its `net.params`, and `net.buffers`) in."""
        mine = self.arrays()
        for key, value in {**params, **(buffers or {})}.items():
            if key not in mine:
                raise KeyError(f"{key!r} is no parameter or buffer of this network")
            value = torch.as_tensor(np.asarray(value))
            if tuple(value.shape) != tuple(mine[key].shape):
                raise ValueError(f"{key}: shape {tuple(value.shape)}, expected "
                                 f"{tuple(mine[key].shape)}")
            mine[key].copy_(value)

    def netc_params(self):
        """The parameters as netc's `net.params`: name -> NumPy array (copies)."""
        return {k: p.detach().cpu().numpy().copy() for k, p in self.named_parameters()}

    def netc_buffers(self):
        """The state buffers (running statistics) as netc's `net.buffers`."""
        return {k: b.detach().cpu().numpy().copy() for k, b in self.named_buffers()}

    def inputs(self, x):
        """Input rows (n, INPUT_WIDTH) as a tensor: token ids as int64, features in the
        module's dtype (uint8 MNIST pixels scaled to [0, 1] as netc scales them)."""
        device = next(self.parameters()).device
        if isinstance(x, torch.Tensor):
            x = x.cpu().numpy()
        x = np.asarray(x)
        if VOCAB:
            return torch.as_tensor(x.astype(np.int64), device=device)
        if x.dtype == np.uint8:
            if not RAW_PIXELS:
                raise ValueError("uint8 inputs (raw pixels?): pass floats scaled as in training")
            x = x / 255.0
        x = x.reshape(len(x), -1) if x.ndim > 2 else x
        return torch.as_tensor(x, dtype=self.dtype, device=device)

    def targets(self, t):
        """Class ids as int64 (one per row, or per step), else rows in the module's dtype."""
        if t is None:
            return None
        device = next(self.parameters()).device
        t = np.asarray(t.cpu() if isinstance(t, torch.Tensor) else t)
        if LOSS == "ns_loss" or LOSS == "softmax_ce" and (
                t.ndim == 1 or np.issubdtype(t.dtype, np.integer)):
            return torch.as_tensor(t.astype(np.int64), device=device)
        return torch.as_tensor(t.reshape(len(t), -1), dtype=self.dtype, device=device)
'''

NET_TAIL = '''
    def loss(self, x, t=None):
        """Mean loss over the batch in evaluation mode, as netc's `net.loss`."""
        was, _ = self.training, self.eval()
        with torch.no_grad():
            value = float(self(self.inputs(x), self.targets(t)))
        self.train(was)
        return value

    def gradients(self, x, t=None):
        """dL/dparam for every parameter by netc's key, in training mode (netc's
        `net.gradients`): NumPy arrays."""
        self.train()
        self.zero_grad(set_to_none=True)
        self(self.inputs(x), self.targets(t)).backward()
        return {k: p.grad.detach().cpu().numpy().copy() for k, p in self.named_parameters()}

    def predict(self, x):
        """What netc's `predict` returns: the loss's head over the scores, as flat rows."""
        was, _ = self.training, self.eval()
        with torch.no_grad():
            _, h = self.graph(self.inputs(x))
            if HEAD == "softmax":
                h = torch.softmax(h, -1)
            elif HEAD == "sigmoid":
                h = torch.sigmoid(h)
        self.train(was)
        return h.reshape(len(h), -1).cpu().numpy()

    def fit(self, x, t=None, epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"],
            seed=SETTINGS["seed"], hyper=None, log=print):
        """Mini-batch training as netc's `Trainer`: a permutation per epoch from
        `default_rng(seed)`, netc's optimizer step per batch (clipping and weight decay as
        the spec's), lr_decay every lr_every epochs. Returns each epoch's mean loss."""
        x = self.inputs(x)
        t = self.targets(t) if t is not None else None
        x, t, val = _held_out(x, t, seed)
        opt = Optimizer(self, hyper=hyper)
        order, losses = np.random.default_rng(seed), []
        for epoch in range(epochs):
            self.train()
            perm, total = torch.as_tensor(order.permutation(len(x))), 0.0
            for start in range(0, len(x), batch_size):
                idx = perm[start:start + batch_size]
                self.zero_grad(set_to_none=True)
                loss = self(x[idx], None if t is None else t[idx])
                loss.backward()
                opt.step()
                total += float(loss) * len(idx)  # weighted by batch size, as netc's fit
            losses.append(total / len(x))
            if (epoch + 1) % SETTINGS["lr_every"] == 0:
                opt.hyper["lr"] *= SETTINGS["lr_decay"]
            if log:
                held = f", val loss {self.loss(*val):.4f}" if val else ""
                log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}{held}")
        return losses


def _register(root, key, value, buffer=False):
    """`value` under the dotted `key`: one submodule per part, so state_dict shows `key`."""
    *path, name = key.split(".")
    for part in path:
        child = dict(root.named_children()).get(part)
        if child is None:
            child = nn.Module()
            root.add_module(part, child)
        root = child
    if buffer:
        root.register_buffer(name, value)
    else:
        root.register_parameter(name, value)


def _held_out(x, t, seed):
    """The spec's `subset` (the first N samples) and `validation_split` (a fraction held
    out after a shuffle from `default_rng((seed, 1))`), as netc's `fit` takes them."""
    if SETTINGS["subset"]:
        x, t = x[:SETTINGS["subset"]], None if t is None else t[:SETTINGS["subset"]]
    held = int(len(x) * SETTINGS["validation_split"])
    if not SETTINGS["validation_split"]:
        return x, t, None
    if held < 1 or held == len(x):
        raise ValueError(f"validation_split leaves no sample on one side of {len(x)}")
    order = torch.as_tensor(np.random.default_rng((seed, 1)).permutation(len(x)))
    train = torch.sort(order[held:]).values
    pick = order[:held]
    return x[train], None if t is None else t[train], (
        x[pick].cpu().numpy(), None if t is None else t[pick].cpu().numpy())
'''

OPTIMIZER = '''
class Optimizer:
    """netc's optimizers (runtime/optim.py), on `net`'s parameters: momentum is DLFS's
    v = m*v - lr*g, W += v; Adam's lr_t = lr*sqrt(1 - beta2^t)/(1 - beta1^t). Each `step`
    first clips the gradients to the global norm `clip` (when set), then adds wd * W to the
    weights' gradients (every parameter's with wd_all), as netc's Trainer does."""

    def __init__(self, net, name=SETTINGS["optimizer"], hyper=None,
                 clip=SETTINGS["clip"], wd_all=SETTINGS["wd_all"]):
        defaults = SETTINGS["hyper"] if name == SETTINGS["optimizer"] else DEFAULTS[name]
        unknown = sorted(set(hyper or ()) - set(defaults))
        if unknown:
            raise ValueError(f"{name} has no hyper-parameter {unknown[0]!r}")
        self.name, self.clip, self.wd_all = name, clip, wd_all
        self.hyper = {**defaults, **{k: float(v) for k, v in (hyper or {}).items()}}
        self.params = dict(net.named_parameters())
        self.state = {s: {k: torch.zeros_like(p) for k, p in self.params.items()}
                      for s in STATES[name]}
        self.steps = 0

    @torch.no_grad()
    def step(self):
        self.steps += 1
        h, grads = self.hyper, {k: p.grad.clone() for k, p in self.params.items()}
        if self.clip:
            # netc clips plain SGD's gradients after lr is folded in (its guard 1e-6 then
            # stands for 1e-6 / lr here): the same factor, as netc computes it.
            folded = self.name == "sgd" and not (h["wd"] and self.wd_all)
            norm = float(torch.sqrt(sum((g * g).sum() for g in grads.values())))
            if norm > self.clip:
                for g in grads.values():
                    g *= self.clip / (norm + 1e-6 / (h["lr"] if folded else 1.0))
        for key, p in self.params.items():
            g = grads[key]
            if h["wd"] and (self.wd_all or key in DECAYED):
                g += h["wd"] * p
            self._update(key, p, g, h)

    def _update(self, key, p, g, h):
        lr, s = h["lr"], {name: arrays[key] for name, arrays in self.state.items()}
        if self.name == "sgd":
            p -= lr * g
        elif self.name in ("momentum", "nesterov"):
            v, m = s["v"], h["momentum"]
            v.mul_(m).sub_(lr * g)
            if self.name == "momentum":
                p += v
            else:
                p -= (1 + m) * lr * g
                p += m * m * v
        elif self.name in ("adagrad", "rmsprop"):
            if self.name == "adagrad":
                s["h"].add_(g * g)
            else:
                s["h"].mul_(h["decay"]).add_((1 - h["decay"]) * g * g)
            p -= lr * g / (torch.sqrt(s["h"]) + h["eps"])
        else:  # adam
            t, b1, b2 = self.steps, h["beta1"], h["beta2"]
            lr_t = lr * (1.0 - b2 ** t) ** 0.5 / (1.0 - b1 ** t)
            s["m"].add_((1 - b1) * (g - s["m"]))
            s["v"].add_((1 - b2) * (g * g - s["v"]))
            p -= lr_t * s["m"] / (torch.sqrt(s["v"]) + h["eps"])
'''

MAIN = MAIN_HEAD + '''    needed = ("x_train",) if TARGET else ("x_train", "t_train")
    missing = [k for k in needed if k not in arrays]
    if missing:
        parser.exit(1, f"{args.data}: no {' or '.join(missing)} array\\n")
    torch.manual_seed(args.seed)
    net = Net(seed=args.seed)
    hyper = {"lr": args.lr} if args.lr is not None else None
    net.fit(arrays["x_train"], arrays.get("t_train"), args.epochs, args.batch_size, args.seed,
            hyper)
    if "x_test" in arrays and ("t_test" in arrays or TARGET):
        print(f"test loss {net.loss(arrays['x_test'], arrays.get('t_test')):.4f}")
    if args.save:
        np.savez(args.save, **net.netc_params())


if __name__ == "__main__":
    main()
'''

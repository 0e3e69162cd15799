"""Convolutional and sparse layers: the linear maps against torch, adjointness, from_torch on modules
as written (torch.fx), the forward pass against torch, and save/load."""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import SEEDS
from layerinv import ReLUNet
from layerinv import linear_maps as lm

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

TOL_CONV = 1e-10  # numpy vs torch, float64, on maps and whole forward passes (the criterion)


def close(a, b):
    scale = max(1.0, float(np.max(np.abs(b))))
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) <= TOL_CONV * scale


def random_conv(rng, transposed):
    """A random (transposed) convolution map with a valid output, and the torch call computing it."""
    while True:
        ci, co = (int(v) for v in rng.integers(1, 9, 2))
        k = tuple(int(v) for v in rng.integers(1, 6, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(rng.integers(0, kk)) for kk in k)
        hw = tuple(int(v) for v in rng.integers(1, 10, 2))
        if transposed:
            op = tuple(int(rng.integers(0, ss)) for ss in s)
            w = rng.standard_normal((ci, co) + k)
            try:
                A = lm.ConvTranspose2d(w, s, p, op, (ci,) + hw)
            except ValueError:
                continue
            return A, lambda x: F.conv_transpose2d(x, torch.tensor(w), stride=s, padding=p, output_padding=op)
        w = rng.standard_normal((co, ci) + k)
        try:
            A = lm.Conv2d(w, s, p, (ci,) + hw)
        except ValueError:
            continue
        return A, lambda x: F.conv2d(x, torch.tensor(w), stride=s, padding=p)


def check_map(A, rng, h=None, batch=3):
    """matvec (1-D and batched), rmatvec (adjointness), rows, to_sparse and nnz agree; returns A h."""
    h = rng.standard_normal((batch, A.n_in)) if h is None else h
    y = rng.standard_normal((batch, A.n_out))
    Ah, Aty = A.matvec(h), A.rmatvec(y)
    assert Ah.shape == (batch, A.n_out) and Aty.shape == (batch, A.n_in)
    assert close(A.matvec(h[0]), Ah[0]) and close(A.rmatvec(y[0]), Aty[0])
    assert abs(np.sum(Ah * y) - np.sum(h * Aty)) <= TOL_CONV * max(1.0, np.abs(Ah).sum() + np.abs(Aty).sum())
    S = A.to_sparse()
    assert sp.issparse(S) and S.shape == A.shape and S.nnz == A.nnz
    assert close((S @ h.T).T, Ah) and close((S.T @ y.T).T, Aty)
    idx = rng.choice(A.n_out, size=min(7, A.n_out), replace=False)
    assert close(A.rows(idx), S[idx].toarray())
    assert sp.issparse(A.rows(idx, dense=False))
    return Ah


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("transposed", [False, True])
def test_conv_maps_match_torch_and_are_adjoint(seed, transposed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        A, ref = random_conv(rng, transposed)
        h = rng.standard_normal((3, A.n_in))
        with torch.no_grad():
            want = ref(torch.tensor(h.reshape((3,) + A.in_shape)))
        assert tuple(want.shape[1:]) == A.out_shape
        assert close(check_map(A, rng, h), want.reshape(3, -1).numpy())
        assert A.nnz <= A.weight.size * A.n_out  # never n_out * n_in dense storage
        assert not hasattr(A, "matrix")


def test_transposed_conv_is_the_adjoint_of_conv():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 5))
    T = lm.ConvTranspose2d(w, (2, 3), (1, 2), (1, 0), (4, 5, 6))
    C = lm.Conv2d(w, (2, 3), (1, 2), T.out_shape)
    assert C.out_shape == T.in_shape
    assert (abs(T.to_sparse() - C.to_sparse().T)).max() == 0


def scatter_adjoint(y, weight, stride, padding, in_hw):
    """The adjoint of a correlation written out: every tap's product added into a padded output in turn."""
    B, Co, Ho, Wo = y.shape
    _, C, kh, kw = weight.shape
    (sh, sw), (ph, pw), (H, W) = stride, padding, in_hw
    xp = np.zeros((B, C, max(H + 2 * ph, (Ho - 1) * sh + kh), max(W + 2 * pw, (Wo - 1) * sw + kw)))
    for a in range(kh):
        for b in range(kw):
            xp[:, :, a:a + (Ho - 1) * sh + 1:sh, b:b + (Wo - 1) * sw + 1:sw] += \
                np.einsum("bohw,oc->bchw", y, weight[:, :, a, b])
    return xp[:, :, ph:ph + H, pw:pw + W]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("queue", [None, 7])
def test_adjoint_plan_matches_the_tap_by_tap_sum(seed, queue, monkeypatch):
    """The shifted-sum kernel of ConvTranspose2d.matvec / Conv2d.rmatvec (_conv.AdjointPlan) on random
    geometries (kernels 1-5, strides 1-3, paddings up to k - 1, output_padding, inputs of 1-9 pixels,
    batches of 1 and more, in one chunk or one image per chunk) against the taps added one by one."""
    from layerinv import _conv
    if queue is not None:
        monkeypatch.setattr(_conv.AdjointPlan, "QUEUE", queue)
    rng = np.random.default_rng(seed)
    for _ in range(40):
        A, _ = random_conv(rng, transposed=bool(rng.integers(2)))
        small, big = (A.in_shape, A.out_shape) if A.kind == "conv_transpose2d" else (A.out_shape, A.in_shape)
        for batch in (1, 4):
            y = rng.standard_normal((batch,) + small)
            want = scatter_adjoint(y, A.weight, A.stride, A.padding, big[1:]).reshape(batch, -1)
            got = A.matvec(y.reshape(batch, -1)) if A.kind == "conv_transpose2d" else A.rmatvec(y.reshape(batch, -1))
            assert got.shape == want.shape
            assert np.max(np.abs(got - want)) <= 1e-13 * max(1.0, np.max(np.abs(want)))
            one = A.matvec(y[0].ravel()) if A.kind == "conv_transpose2d" else A.rmatvec(y[0].ravel())
            assert np.max(np.abs(one - want[0])) <= 1e-13 * max(1.0, np.max(np.abs(want)))


@pytest.mark.parametrize("seed", SEEDS)
def test_other_maps_and_compose(seed):
    rng = np.random.default_rng(seed)
    conv = lm.Conv2d(rng.standard_normal((3, 2, 3, 3)), 1, 1, (2, 4, 5))
    convt = lm.ConvTranspose2d(rng.standard_normal((3, 2, 4, 4)), 2, 1, 0, (3, 4, 5))
    up = lm.Upsample.nearest((3, 4, 5), (2, 3))
    dense = lm.Dense(rng.standard_normal((conv.n_in, 6)))
    diag_in = lm.Diagonal(np.repeat(rng.standard_normal(2), 20), (2, 4, 5))
    diag_out = lm.Diagonal(np.repeat(rng.standard_normal(3), 20), (3, 4, 5))
    diag_any = lm.Diagonal(rng.standard_normal(60), (3, 4, 5))
    sparse = lm.Sparse(sp.random(7, conv.n_out, density=0.3, random_state=seed), out_shape=(7,))
    for A in (conv, convt, up, dense, diag_in, sparse):
        check_map(A, rng)
    with torch.no_grad():
        want = nn.Upsample(scale_factor=(2, 3))(torch.tensor(np.arange(60.0).reshape(1, 3, 4, 5)))
    assert np.array_equal(up.matvec(np.arange(60.0)), want.numpy().ravel())
    pairs = [(conv, diag_in, lm.Conv2d), (diag_out, conv, lm.Conv2d), (diag_any, conv, lm.Sparse),
             (convt, diag_out, lm.ConvTranspose2d), (up, conv, lm.Sparse), (conv, dense, lm.Dense),
             (sparse, conv, lm.Sparse), (lm.Dense(rng.standard_normal((5, 60))), conv, lm.Dense)]
    for outer, inner, kind in pairs:
        AB = lm.compose(outer, inner)
        assert isinstance(AB, kind), (outer, inner, AB)
        assert AB.in_shape == inner.in_shape and AB.out_shape == outer.out_shape
        assert close(AB.to_dense(), outer.to_dense() @ inner.to_dense())
    with pytest.raises(ValueError, match="cannot compose"):
        lm.compose(conv, up)


def test_maps_copy_their_arrays():
    w = np.ones((2, 3, 3, 3))
    A = lm.Conv2d(w, 1, 1, (3, 4, 4))
    w[0] = 5.0
    assert w.flags.writeable and np.all(A.weight == 1) and not A.weight.flags.writeable
    W = np.ones((3, 2))
    D = lm.Dense(W)
    W[0, 0] = 7.0
    assert D.matrix[0, 0] == 1 and W.flags.writeable


def test_layer_weight_property(monkeypatch):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 3))
    G = ReLUNet([W, lm.Conv2d(rng.standard_normal((2, 5, 1, 1)), 1, 0, (5, 1, 1))])
    assert G.layers[0].weight is G.layers[0].linear.matrix
    assert np.array_equal(G.layers[1].weight, G.layers[1].linear.to_sparse().toarray())
    monkeypatch.setattr(lm, "DENSE_LIMIT", 4)
    H = ReLUNet([W, lm.Conv2d(rng.standard_normal((2, 5, 1, 1)), 1, 0, (5, 1, 1))])
    with pytest.raises(ValueError, match="DENSE_LIMIT"):
        H.layers[1].weight
    rows, b = H.layers[1].rows([0, 1])
    assert sp.issparse(rows) and rows.shape == (2, 5) and b.shape == (2,)
    sub = H.layers[1].select([1])
    assert isinstance(sub.linear, lm.Sparse) and close(sub.affine(np.ones(5)), H.layers[1].affine(np.ones(5))[1:])


@pytest.mark.parametrize("kwargs, match", [
    (dict(weight=np.ones((2, 3, 3))), "weight"),
    (dict(weight=np.ones((2, 3, 3, 3)), stride=0), "stride"),
    (dict(weight=np.ones((2, 3, 3, 3)), padding=-1), "padding"),
    (dict(weight=np.ones((2, 3, 3, 3)), in_shape=(2, 5, 5)), "3 channels"),
    (dict(weight=np.ones((2, 3, 3, 3)), in_shape=(3, 2, 2)), "empty output"),
])
def test_conv_validation(kwargs, match):
    kwargs.setdefault("in_shape", (3, 5, 5))
    with pytest.raises(ValueError, match=match):
        lm.Conv2d(**kwargs)
    with pytest.raises(ValueError, match="output_padding"):
        lm.ConvTranspose2d(np.ones((3, 2, 3, 3)), 2, 0, 2, (3, 4, 4))


# ---------------------------------------------------------------------- modules as written
class DCGANGenerator(nn.Module):
    """The PyTorch DCGAN tutorial's Generator (nz=100, ngf=64, nc=3 -> 3 x 64 x 64)."""

    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, input):
        return self.main(input)


class MNISTDecoder(nn.Module):
    """Linear -> Unflatten(1, (C, 7, 7)) -> ConvTranspose2d -> BN2d -> ReLU -> ConvTranspose2d -> out."""

    def __init__(self, k=8, c=6, c2=4, out=nn.Sigmoid):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(k, c * 49), nn.ReLU(), nn.Unflatten(1, (c, 7, 7)))
        self.up = nn.Sequential(nn.ConvTranspose2d(c, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.ReLU(),
                                nn.ConvTranspose2d(c2, 1, 4, 2, 1), out())

    def forward(self, z):
        return self.up(self.fc(z))


class Functional(nn.Module):
    """The functional forms: F.leaky_relu, x.view(x.size(0), ...), F.interpolate, torch.flatten, torch.sigmoid."""

    def __init__(self, k=5):
        super().__init__()
        self.fc = nn.Linear(k, 3 * 16)
        self.bn = nn.BatchNorm1d(3 * 16)
        self.conv = nn.Conv2d(3, 4, 3, padding="same")
        self.bn2 = nn.BatchNorm2d(4)
        self.out = nn.Linear(4 * 8 * 8, 30)

    def forward(self, z):
        h = F.leaky_relu(self.bn(self.fc(z)), 0.2)
        h = h.view(z.size(0), 3, 4, -1)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = torch.relu(self.bn2(self.conv(h)))
        return torch.sigmoid(self.out(torch.flatten(h, 1)))


def randomise_batchnorms(module, g):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g))
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.randn(n, generator=g))
                m.bias.copy_(torch.randn(n, generator=g))
    return module.double().eval()


def random_decoder(seed):
    """A random chain mixing every supported kind of layer."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    k, c = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    hw = int(rng.integers(2, 5))
    act = lambda: nn.ReLU() if rng.random() < 0.5 else nn.LeakyReLU(float(rng.uniform(0.05, 0.5)))  # noqa: E731
    layers = [nn.Linear(k, c * hw * hw), nn.BatchNorm1d(c * hw * hw), act(), nn.Unflatten(1, (c, hw, hw))]
    for _ in range(int(rng.integers(1, 4))):
        c2, ks = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        s = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            layers.append(nn.ConvTranspose2d(c, c2, ks, s, int(rng.integers(0, ks)), int(rng.integers(0, s)),
                                             bias=bool(rng.random() < 0.7)))
        else:
            if rng.random() < 0.5:
                layers.append(nn.Upsample(scale_factor=int(rng.integers(2, 4))))
            layers.append(nn.Conv2d(c, c2, ks, 1, ks // 2))
        layers += [nn.BatchNorm2d(c2), act()]
        c = c2
        if rng.random() < 0.3:  # BatchNorm after the activation: folded into the next map
            layers.append(nn.BatchNorm2d(c))
    layers.append(nn.ConvTranspose2d(c, int(rng.integers(1, 4)), 3, 1, 1))
    layers.append([nn.Sigmoid, nn.Tanh, nn.Identity, nn.ReLU][seed % 4]())
    if rng.random() < 0.5:
        layers.append(nn.Upsample(scale_factor=2))  # after the activation: commutes, folded into the last layer
    layers.append(nn.Flatten())
    return randomise_batchnorms(nn.Sequential(*layers), torch.Generator().manual_seed(seed)), k


def torch_forward(module, z, input_shape):
    with torch.no_grad():
        return module(torch.tensor(z).reshape((len(z),) + input_shape)).reshape(len(z), -1).numpy()


@pytest.mark.parametrize("seed", range(8))
def test_from_torch_random_decoders_match_torch(seed):
    module, k = random_decoder(seed)
    G = ReLUNet.from_torch(module)
    z = np.random.default_rng(seed).standard_normal((4, k))
    want = torch_forward(module, z, (k,))
    assert G.k == k and G.n == want.shape[1]
    assert close(G(z), want) and close(G(z[0]), want[0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("out", [nn.Sigmoid, nn.ReLU])
def test_from_torch_mnist_decoder_and_functional_forms(seed, out):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dec = randomise_batchnorms(MNISTDecoder(out=out), g)
    G = ReLUNet.from_torch(dec)
    assert G.dims == [8, 6 * 49, 4 * 14 * 14, 784]
    assert [type(L.linear) for L in G.layers] == [lm.Dense, lm.ConvTranspose2d, lm.ConvTranspose2d]
    z = rng.standard_normal((5, 8))
    assert close(G(z), torch_forward(dec, z, (8,)))
    fun = randomise_batchnorms(Functional(), g)
    G = ReLUNet.from_torch(fun)
    assert close(G(z[:, :5]), torch_forward(fun, z[:, :5], (5,)))


def test_from_torch_dcgan_generator():
    torch.manual_seed(0)
    gen = randomise_batchnorms(DCGANGenerator(), torch.Generator().manual_seed(0))
    G = ReLUNet.from_torch(gen)
    assert G.dims == [100, 8192, 16384, 32768, 65536, 12288]
    assert all(isinstance(L.linear, lm.ConvTranspose2d) for L in G.layers)
    weights = sum(L.linear.weight.nbytes for L in G.layers)
    z = np.random.default_rng(0).standard_normal((2, 100))
    tracemalloc.start()
    x = G(z)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20 + weights  # the forward's buffers are a few images, never n_out x n_in
    assert close(x, torch_forward(gen, z, (100, 1, 1)))


def test_input_shape_argument():
    m = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 5, 7)).double()
    G = ReLUNet.from_torch(m, input_shape=(2, 6, 7))
    z = np.random.default_rng(0).standard_normal((3, 84))
    assert close(G(z), torch_forward(m, z, (2, 6, 7)))
    with pytest.raises(ValueError, match="input_shape"):
        ReLUNet.from_torch(m)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        y = F.relu(self.a(x))
        return self.b(y) + y


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cat([self.a(x), x], 1)


class Branch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        h = self.a(x)
        self.b(h)
        return F.relu(h)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) if x.sum() > 0 else x


def _img(*layers):
    return nn.Sequential(nn.Linear(4, 18), nn.Unflatten(1, (2, 3, 3)), *layers)


@pytest.mark.parametrize("module, match", [
    (Residual(), r"'add' at node 'add' combines"),
    (Concat(), r"'cat' at node 'cat' combines"),
    (Branch(), r"node 'a' is used by 2 operations"),
    (DataDependent(), "could not be traced"),
    (_img(nn.Conv2d(2, 2, 3, dilation=2, padding=2)), r"module '2' \(Conv2d\) has groups=1, dilation=\(2, 2\)"),
    (_img(nn.Conv2d(2, 2, 3, groups=2)), r"module '2' \(Conv2d\) has groups=2"),
    (_img(nn.ConvTranspose2d(2, 2, 3, dilation=2)), r"module '2' \(ConvTranspose2d\) has groups=1, dilation"),
    (_img(nn.Upsample(scale_factor=2, mode="bilinear")), r"module '2' \(Upsample\) has mode='bilinear'"),
    (_img(nn.MaxPool2d(2)), r"module '2' \(MaxPool2d\) is not supported"),
    (nn.Sequential(nn.Linear(4, 18), nn.GELU()), r"module '1' \(GELU\) is not supported"),
    (nn.Sequential(nn.Linear(4, 18), nn.BatchNorm1d(18), nn.ReLU()), "training mode"),
    (nn.Sequential(nn.Linear(4, 18), nn.Conv2d(18, 3, 1)), r"module '1' \(Conv2d\) expects inputs of shape"),
    (nn.Sequential(nn.Linear(4, 18), nn.Sigmoid(), nn.Linear(18, 3)), "hidden layer 0"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 5)), "must follow an affine layer"),
    (nn.Sequential(nn.Linear(4, 5), nn.LeakyReLU(1.5)), "negative_slope"),
    (nn.Sequential(nn.Linear(4, 5), nn.Flatten(0)), "batch dimension"),
])
def test_from_torch_refuses_what_it_cannot_represent(module, match):
    with pytest.raises(ValueError, match=match):
        ReLUNet.from_torch(module)


def test_from_torch_refuses_non_modules():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ReLUNet.from_torch(lambda z: z)


# ---------------------------------------------------------------------- files
def test_save_load_conv_nets_round_trip(tmp_path):
    module, k = random_decoder(1)
    nets = [ReLUNet.from_torch(module), ReLUNet.from_torch(randomise_batchnorms(
        MNISTDecoder(), torch.Generator().manual_seed(0))),
        ReLUNet([lm.Upsample.nearest((1, 2, 2), 2), sp.random(5, 16, density=0.5, random_state=0).tocsr(),
                 lm.Diagonal(np.arange(1.0, 6.0))], activations=["relu", "relu", "identity"])]
    for i, G in enumerate(nets):
        path = tmp_path / f"g{i}.npz"
        G.save(path)
        H = ReLUNet.load(path)
        assert [type(L.linear) for L in H.layers] == [type(L.linear) for L in G.layers]
        for a, b in zip(G.layers, H.layers):
            assert a.linear.in_shape == b.linear.in_shape and a.linear.out_shape == b.linear.out_shape
            assert a.activation == b.activation
        z = np.random.default_rng(i).standard_normal((3, G.k))
        assert np.array_equal(G(z), H(z))
    with np.load(tmp_path / "g1.npz") as f:
        data = {key: f[key] for key in f.files}
    np.savez(tmp_path / "bad.npz", **dict(data, map1=np.array('{"kind": "conv2d", "stride": [0, 1]}')))
    with pytest.raises(ValueError, match=r"bad.npz.*map1"):
        ReLUNet.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "part.npz", **{key: v for key, v in data.items() if key != "map1_weight"})
    with pytest.raises(ValueError, match="'map1_weight' is missing"):
        ReLUNet.load(tmp_path / "part.npz")
    np.savez(tmp_path / "extra.npz", **dict(data, map1_bias=np.ones(3)))
    with pytest.raises(ValueError, match="'map1_bias'"):
        ReLUNet.load(tmp_path / "extra.npz")
    np.savez(tmp_path / "v1.npz", **dict(data, version=np.array(1)))
    with pytest.raises(ValueError, match="'W1' is missing"):  # a version-1 file holds dense layers only
        ReLUNet.load(tmp_path / "v1.npz")
    np.savez(tmp_path / "kind.npz", **dict(data, map1=np.array('{"kind": "pickle"}')))
    with pytest.raises(ValueError, match="'kind' is one of"):
        ReLUNet.load(tmp_path / "kind.npz")
    dense = tmp_path / "dense.npz"
    ReLUNet.random([2, 3], rng=0).save(dense)
    with np.load(dense) as f:
        assert int(f["version"]) == 1 and "W0" in f.files  # dense nets keep the version-1 format

"""Self-checks of the reference: /usr/bin/python3 -m unittest discover -s scripts/reference"""

import io as _io
import math
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mhc_reference as ref  # noqa: E402
import safetensors_io as st  # noqa: E402

F64 = torch.float64


def tiny_decoder_cfg(**kw):
    base = dict(kind="decoder", vocab_size=23, hidden_size=16, layers=2, heads=4, kv_heads=2,
                head_dim=6, ffn_hidden_size=24, streams=3, sinkhorn_iterations=10,
                collapse="head", max_sequence=16)
    base.update(kw)
    return ref.Config(**base)


def random_model(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = ref.build(cfg)
    w = {}
    for name, shape in model.expected_weights().items():
        t = torch.randn(shape, generator=g, dtype=F64)
        if name.endswith("_fn"):
            t = t * 0.1
        if name.endswith("norm.weight"):
            t = 1 + 0.1 * t
        if len(shape) == 2 and not name.endswith("_fn") and name != "embed.weight":
            t = t / math.sqrt(shape[1])
        w[name] = t
    return model.load_weights(w).eval()


class SinkhornTest(unittest.TestCase):
    def test_columns_sum_to_one(self):
        g = torch.Generator().manual_seed(1)
        for n in (1, 2, 3, 4, 8):
            eps = 1e-6
            logits = 3 * torch.randn(5, 7, n, n, generator=g, dtype=F64)
            comb = ref.sinkhorn(logits, 20, eps)
            col = comb.sum(dim=-2)
            self.assertLessEqual((col - 1).abs().max().item(), n * eps + 1e-12)
            self.assertTrue((comb > 0).all())
            # rows are only approximately 1; they must be observable, not asserted exact.
            self.assertLess((comb.sum(dim=-1) - 1).abs().max().item(), 0.05)

    def test_one_iteration_is_softmax_then_column_normalisation(self):
        g = torch.Generator().manual_seed(2)
        logits = torch.randn(4, 4, generator=g, dtype=F64)
        e = torch.softmax(logits, -1)
        want = e / e.sum(0, keepdim=True)
        torch.testing.assert_close(ref.sinkhorn(logits, 1, 0.0), want)

    def test_converges_to_doubly_stochastic_without_eps(self):
        g = torch.Generator().manual_seed(3)
        logits = 2 * torch.randn(6, 4, 4, generator=g, dtype=F64)
        comb = ref.sinkhorn(logits, 500, 0.0)
        torch.testing.assert_close(comb.sum(-1), torch.ones(6, 4, dtype=F64), atol=1e-10, rtol=0)
        torch.testing.assert_close(comb.sum(-2), torch.ones(6, 4, dtype=F64), atol=1e-12, rtol=0)

    def test_exact_formula_with_eps(self):
        # A literal transcription of docs/spec.md §2 with explicit loops over entries.
        g = torch.Generator().manual_seed(4)
        n, iters, eps = 3, 4, 1e-3
        L = torch.randn(n, n, generator=g, dtype=F64)
        c = [[0.0] * n for _ in range(n)]
        for j in range(n):
            z = sum(math.exp(L[j, k].item()) for k in range(n))
            for k in range(n):
                c[j][k] = math.exp(L[j, k].item()) / z + eps

        def colnorm(c):
            s = [sum(c[j][k] for j in range(n)) for k in range(n)]
            return [[c[j][k] / (s[k] + eps) for k in range(n)] for j in range(n)]

        def rownorm(c):
            return [[c[j][k] / (sum(c[j]) + eps) for k in range(n)] for j in range(n)]

        c = colnorm(c)
        for _ in range(iters - 1):
            c = colnorm(rownorm(c))
        torch.testing.assert_close(ref.sinkhorn(L, iters, eps), torch.tensor(c, dtype=F64))


class MhcTest(unittest.TestCase):
    def test_static_zero_base(self):
        n, eps = 4, 1e-6
        base = torch.zeros(n * n + 2 * n, dtype=F64)
        x = torch.randn(2, 3, n, 5, dtype=F64)
        pre, post, comb = ref.mhc_coefficients(x, base, None, None, n, 20, eps, 1e-6)
        torch.testing.assert_close(pre, torch.full((n,), 0.5 + eps, dtype=F64))
        torch.testing.assert_close(post, torch.ones(n, dtype=F64))
        # uniform logits: every entry ~ 1/n
        torch.testing.assert_close(comb, torch.full((n, n), 1.0 / n, dtype=F64), atol=1e-5, rtol=0)

    def test_dynamic_with_zero_fn_equals_static(self):
        n, C = 3, 4
        g = torch.Generator().manual_seed(5)
        base = torch.randn(n * n + 2 * n, generator=g, dtype=F64)
        fn = torch.zeros(n * n + 2 * n, n * C, dtype=F64)
        scale = torch.tensor([0.7, 1.3, 0.9], dtype=F64)
        x = torch.randn(2, 3, n, C, generator=g, dtype=F64)
        dyn = ref.mhc_coefficients(x, base, fn, scale, n, 7, 1e-6, 1e-6)
        sta = ref.mhc_coefficients(x, base, None, None, n, 7, 1e-6, 1e-6)
        for a, b in zip(dyn, sta):
            torch.testing.assert_close(a, b.expand_as(a))

    def test_dynamic_coefficients_by_hand(self):
        # Check indexing: pre = mixes[0:n], post = mixes[n:2n], comb row-major j*n+k.
        n, C = 2, 3
        g = torch.Generator().manual_seed(6)
        base = torch.randn(n * n + 2 * n, generator=g, dtype=F64)
        fn = torch.randn(n * n + 2 * n, n * C, generator=g, dtype=F64)
        scale = torch.tensor([0.5, 1.5, 2.0], dtype=F64)
        x = torch.randn(n, C, generator=g, dtype=F64)
        xf = x.reshape(-1)
        r = 1 / math.sqrt((xf ** 2).mean().item() + 1e-6)
        mixes = [sum(fn[m, i].item() * xf[i].item() for i in range(n * C)) * r
                 for m in range(n * n + 2 * n)]
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        pre, post, comb = ref.mhc_coefficients(x, base, fn, scale, n, 1, 0.0, 1e-6)
        for i in range(n):
            self.assertAlmostEqual(pre[i].item(), sig(0.5 * mixes[i] + base[i].item()), 12)
            self.assertAlmostEqual(post[i].item(), 2 * sig(1.5 * mixes[n + i] + base[n + i].item()), 12)
        L = torch.tensor([[2.0 * mixes[2 * n + j * n + k] + base[2 * n + j * n + k].item()
                           for k in range(n)] for j in range(n)], dtype=F64)
        torch.testing.assert_close(comb, ref.sinkhorn(L, 1, 0.0))

    def test_stream_mix_uses_columns(self):
        # x'[k] = post[k] y + Σ_j comb[j,k] x[j]  ==  post ⊗ y + combᵀ x
        g = torch.Generator().manual_seed(7)
        n, C = 4, 5
        x = torch.randn(2, n, C, generator=g, dtype=F64)
        y = torch.randn(2, C, generator=g, dtype=F64)
        post = torch.rand(2, n, generator=g, dtype=F64)
        comb = torch.rand(2, n, n, generator=g, dtype=F64)
        want = post[..., None] * y[:, None, :] + torch.einsum("bjk,bjc->bkc", comb, x)
        torch.testing.assert_close(ref.stream_mix(x, y, post, comb), want)

    def test_one_stream_is_scaled_residual(self):
        C = 6
        g = torch.Generator().manual_seed(8)
        F = ref.MlpBody(C, 10)
        with torch.no_grad():
            for p in F.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=F64) * 0.3)
        x = torch.randn(3, 1, C, generator=g, dtype=F64)
        b0, b1, b2 = 0.3, -0.4, 1.7
        base = torch.tensor([b0, b1, b2], dtype=F64)
        sig = torch.sigmoid
        # eps = 0: comb is exactly 1 -> x' = 2σ(b1) F(σ(b0) x) + x
        out = ref.mhc_sublayer(x, F, base, None, None, 1, 20, 0.0, 1e-6)
        want = 2 * sig(torch.tensor(b1, dtype=F64)) * F(sig(torch.tensor(b0, dtype=F64)) * x[:, 0]) + x[:, 0]
        torch.testing.assert_close(out[:, 0], want)
        # eps = 1e-6: comb = 1 up to ~eps
        _, _, comb = ref.mhc_coefficients(x, base, None, None, 1, 20, 1e-6, 1e-6)
        self.assertLess(abs(comb.item() - 1), 1e-5)


class AttentionTest(unittest.TestCase):
    def test_rope_position_zero_is_identity(self):
        rope = ref.RoPE(8, 10000.0, 4)
        v = torch.randn(2, 3, 1, 8, dtype=F64)
        torch.testing.assert_close(rope(v), v, atol=0, rtol=0)

    def test_rope_rotate_half(self):
        D, theta = 6, 500.0
        rope = ref.RoPE(D, theta, 5)
        v = torch.randn(1, 1, 5, D, dtype=F64)
        out = rope(v)
        for p in range(5):
            for i in range(D // 2):
                a = p * theta ** (-2 * i / D)
                v1, v2 = v[0, 0, p, i].item(), v[0, 0, p, i + D // 2].item()
                self.assertAlmostEqual(out[0, 0, p, i].item(), v1 * math.cos(a) - v2 * math.sin(a), 12)
                self.assertAlmostEqual(out[0, 0, p, i + D // 2].item(), v2 * math.cos(a) + v1 * math.sin(a), 12)

    def test_gqa_matches_per_head_loop(self):
        cfg = tiny_decoder_cfg(heads=6, kv_heads=2, head_dim=4)
        attn = random_model(cfg).layers[0].attn
        h = torch.randn(2, 5, cfg.hidden_size, dtype=F64)
        B, S, H, KV, D = 2, 5, 6, 2, 4
        q = attn.rope((h @ attn.wq.weight.t()).view(B, S, H, D).transpose(1, 2))
        k = attn.rope((h @ attn.wk.weight.t()).view(B, S, KV, D).transpose(1, 2))
        v = (h @ attn.wv.weight.t()).view(B, S, KV, D).transpose(1, 2)
        o = torch.zeros(B, S, H, D, dtype=F64)
        for b in range(B):
            for hh in range(H):
                kv = hh // (H // KV)
                for t in range(S):
                    s = torch.stack([q[b, hh, t] @ k[b, kv, u] for u in range(t + 1)]) / math.sqrt(D)
                    p = torch.softmax(s, 0)
                    o[b, t, hh] = sum(p[u] * v[b, kv, u] for u in range(t + 1))
        want = o.reshape(B, S, H * D) @ attn.wo.weight.t()
        torch.testing.assert_close(attn(h), want)

    def test_causal(self):
        for kw in ({}, {"hc_kind": "residual"}, {"dynamic": False, "collapse": "sum"}):
            cfg = tiny_decoder_cfg(**kw)
            model = random_model(cfg, seed=9)
            g = torch.Generator().manual_seed(10)
            ids = torch.randint(0, cfg.vocab_size, (2, 8), generator=g)
            base = model(ids)
            for t in range(7):
                ids2 = ids.clone()
                ids2[:, t + 1:] = torch.randint(0, cfg.vocab_size, (2, 7 - t), generator=g)
                out = model(ids2)
                torch.testing.assert_close(out[:, :t + 1], base[:, :t + 1], atol=1e-12, rtol=0)
                self.assertGreater((out[:, t + 1:] - base[:, t + 1:]).abs().max().item(), 1e-6)

    def test_prefix_consistency(self):
        # A prefix of the sequence gives the same logits as the full sequence's prefix.
        cfg = tiny_decoder_cfg()
        model = random_model(cfg, seed=11)
        ids = torch.randint(0, cfg.vocab_size, (3, 9))
        full = model(ids)
        torch.testing.assert_close(model(ids[:, :4]), full[:, :4])


class ModelTest(unittest.TestCase):
    def test_weight_names(self):
        cfg = tiny_decoder_cfg(layers=1, streams=2)
        names = set(ref.build(cfg).expected_weights())
        self.assertEqual(names, {
            "embed.weight", "norm.weight", "head.weight",
            "hc_head_fn", "hc_head_base", "hc_head_scale",
            "layers.0.attn_norm.weight", "layers.0.ffn_norm.weight",
            "layers.0.attn.wq.weight", "layers.0.attn.wk.weight", "layers.0.attn.wv.weight",
            "layers.0.attn.wo.weight", "layers.0.ffn.w1.weight", "layers.0.ffn.w2.weight",
            "layers.0.ffn.w3.weight", "layers.0.hc_attn_fn", "layers.0.hc_attn_base",
            "layers.0.hc_attn_scale", "layers.0.hc_ffn_fn", "layers.0.hc_ffn_base",
            "layers.0.hc_ffn_scale"})
        shapes = ref.build(cfg).expected_weights()
        self.assertEqual(shapes["layers.0.hc_attn_fn"], (8, 32))
        self.assertEqual(shapes["layers.0.attn.wk.weight"], (12, 16))
        self.assertEqual(shapes["layers.0.attn.wo.weight"], (16, 24))
        static = ref.build(tiny_decoder_cfg(layers=1, dynamic=False, collapse="mean"))
        self.assertNotIn("layers.0.hc_attn_fn", static.expected_weights())
        self.assertNotIn("hc_head_fn", static.expected_weights())
        resid = ref.build(tiny_decoder_cfg(layers=1, hc_kind="residual"))
        self.assertFalse([k for k in resid.expected_weights() if "hc_" in k])
        mlp = ref.build(ref.Config(kind="mlp", input_size=3, output_size=2, hidden_size=4,
                                   layers=1, ffn_hidden_size=5, streams=2))
        self.assertEqual(mlp.expected_weights(), {
            "in_proj.weight": (4, 3), "out_proj.weight": (2, 4), "norm.weight": (4,),
            "layers.0.norm.weight": (4,), "layers.0.mlp.w1.weight": (5, 4),
            "layers.0.mlp.w2.weight": (4, 5), "layers.0.hc_fn": (8, 8),
            "layers.0.hc_base": (8,), "layers.0.hc_scale": (3,),
            "hc_head_fn": (2, 8), "hc_head_base": (2,), "hc_head_scale": (1,)})

    def test_load_rejects_bad_weights(self):
        cfg = tiny_decoder_cfg(layers=1)
        model = ref.build(cfg)
        w = {k: torch.zeros(s) for k, s in model.expected_weights().items()}
        model.load_weights(dict(w))
        bad = dict(w)
        del bad["layers.0.hc_ffn_scale"]
        with self.assertRaisesRegex(ValueError, "missing tensor layers.0.hc_ffn_scale"):
            model.load_weights(bad)
        bad = dict(w, extra=torch.zeros(1))
        with self.assertRaisesRegex(ValueError, "unexpected tensor extra"):
            model.load_weights(bad)
        bad = dict(w)
        bad["norm.weight"] = torch.zeros(3)
        with self.assertRaisesRegex(ValueError, r"norm.weight: expected shape \[16\], found \[3\]"):
            model.load_weights(bad)

    def test_residual_decoder_by_hand(self):
        cfg = tiny_decoder_cfg(layers=1, hc_kind="residual")
        m = random_model(cfg, seed=12)
        ids = torch.randint(0, cfg.vocab_size, (2, 4))
        L = m.layers[0]
        x = m.embed.weight[ids]
        x = x + L.attn(L.attn_norm(x))
        x = x + L.ffn(L.ffn_norm(x))
        torch.testing.assert_close(m(ids), m.norm(x) @ m.head.weight.t())

    def test_mlp_matches_decoder_style_state(self):
        # mlp with state [B, n, C] equals running the same sublayers on [B, 1, n, C].
        cfg = ref.Config(kind="mlp", input_size=5, output_size=3, hidden_size=8, layers=2,
                         ffn_hidden_size=12, streams=4, collapse="head")
        m = random_model(cfg, seed=13)
        x = torch.randn(4, 5, dtype=F64)
        s = ref.stream_expand(m.in_proj(x), 4)[:, None]     # [B,1,n,C]
        for layer in m.layers:
            s = ref.mhc_sublayer(s, layer.sublayer, layer.hc_base, layer.hc_fn, layer.hc_scale,
                                 4, 20, 1e-6, 1e-6)
        y = ref.head_collapse(s, m.hc_head_fn, m.hc_head_base, m.hc_head_scale, 1e-6, 1e-6)
        torch.testing.assert_close(m(x), m.out_proj(m.norm(y))[:, 0])

    def test_collapse_modes(self):
        x = torch.randn(2, 3, 4, 5, dtype=F64)
        for mode, want in (("sum", x.sum(-2)), ("mean", x.mean(-2))):
            m = ref.build(tiny_decoder_cfg(streams=4, collapse=mode, hidden_size=5, heads=1, kv_heads=1, head_dim=2))
            torch.testing.assert_close(m._collapse(x), want)

    def test_onnx_export_traces(self):
        cfg = tiny_decoder_cfg()
        model = ref.build(cfg, torch.float32)
        buf = _io.BytesIO()
        torch.onnx.export(model, (torch.zeros(2, 3, dtype=torch.int64),), buf,
                          input_names=["input_ids"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "logits": {0: "batch", 1: "sequence"}},
                          opset_version=17)
        self.assertGreater(len(buf.getvalue()), 1000)
        try:
            import onnx
        except ImportError:
            return
        m = onnx.load_from_string(buf.getvalue())
        onnx.checker.check_model(m)
        dims = [d.dim_param for d in m.graph.input[0].type.tensor_type.shape.dim]
        self.assertEqual(dims, ["batch", "sequence"])


class MoETest(unittest.TestCase):
    MOE = dict(experts=5, experts_per_token=2, shared_experts=1, expert_ffn_hidden_size=7,
               router="sigmoid", normalize_top_k=True, routed_scaling_factor=2.5, dense_layers=1)

    def test_weight_names(self):
        shapes = ref.build(tiny_decoder_cfg(moe=self.MOE)).expected_weights()
        self.assertIn("layers.0.ffn.w1.weight", shapes)          # dense_layers: layer 0 dense
        self.assertNotIn("layers.1.ffn.w1.weight", shapes)
        self.assertEqual(shapes["layers.1.ffn.gate.weight"], (5, 16))
        self.assertEqual(shapes["layers.1.ffn.experts.4.w1.weight"], (7, 16))
        self.assertEqual(shapes["layers.1.ffn.experts.4.w2.weight"], (16, 7))
        self.assertEqual(shapes["layers.1.ffn.shared_experts.w3.weight"], (7, 16))
        self.assertNotIn("layers.1.ffn.experts.5.w1.weight", shapes)

    def test_matches_per_token_loop(self):
        """MoE.forward against docs/spec.md §3.1 read literally, one token at a time."""
        for router, normalize in (("sigmoid", True), ("softmax", False)):
            moe = dict(self.MOE, router=router, normalize_top_k=normalize)
            model = random_model(tiny_decoder_cfg(moe=moe), seed=3)
            ffn = model.layers[1].ffn
            h = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(4), dtype=F64)
            got = ffn(h)
            for b in range(2):
                for t in range(3):
                    x = h[b, t]
                    logits = ffn.gate(x)
                    s = torch.sigmoid(logits) if router == "sigmoid" else torch.softmax(logits, -1)
                    order = sorted(range(5), key=lambda e: (-s[e].item(), e))[:2]
                    w = {e: s[e] for e in order}
                    if normalize:
                        total = sum(w.values())
                        w = {e: v / total for e, v in w.items()}
                    y = sum(2.5 * w[e] * ffn.experts[e](x) for e in order) + ffn.shared_experts(x)
                    torch.testing.assert_close(got[b, t], y)


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        g = torch.Generator().manual_seed(14)
        t = {
            "a.f32": torch.randn(3, 4, generator=g),
            "b.f16": torch.randn(5, generator=g).half(),
            "c.bf16": torch.randn(2, 3, generator=g).bfloat16(),
            "d.i64": torch.tensor([[1, -2, 3 << 40]], dtype=torch.int64),
            "e.scalar": torch.tensor(1.5),
            "f.empty": torch.zeros(0, 3),
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.safetensors")
            st.save(t, path, metadata={"format": "pt"})
            with open(path, "rb") as f:
                data = f.read()
            back, meta = st.loads(data)
        self.assertEqual(meta, {"format": "pt"})
        self.assertEqual(set(back), set(t))
        for k in t:
            self.assertEqual(back[k].dtype, t[k].dtype, k)
            self.assertEqual(back[k].shape, t[k].shape, k)
            self.assertTrue(torch.equal(back[k], t[k]), k)
        n = int.from_bytes(data[:8], "little")
        self.assertEqual((8 + n) % 8, 0)
        self.assertEqual(len(data), 8 + n + 12 * 4 + 5 * 2 + 6 * 2 + 3 * 8 + 4)

    def test_known_bytes(self):
        data = st.dumps({"x": torch.tensor([1.0, -2.0])})
        n = int.from_bytes(data[:8], "little")
        self.assertEqual(data[8:8 + n].rstrip(b" "),
                         b'{"x":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}}')
        self.assertEqual(data[8 + n:], b"\x00\x00\x80\x3f\x00\x00\x00\xc0")
        bf = st.dumps({"x": torch.tensor([1.0, -2.0]).bfloat16()})
        self.assertEqual(bf[-4:], b"\x80\x3f\x00\xc0")


class DenseOptionsTest(unittest.TestCase):
    """The norm, activation, position, tying and bias options (docs/spec.md §3.1)."""

    def cfg(self, **kw):
        base = dict(kind="decoder", vocab_size=13, hidden_size=8, layers=2, heads=2,
                    ffn_hidden_size=12, max_sequence=16, streams=2)
        base.update(kw)
        return ref.Config(**base)

    def randomize(self, model, seed=0):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=F64) * 0.5)
        return model

    def test_layernorm_is_torch_layernorm(self):
        ln = ref.LayerNorm(8, 1e-5, True)
        self.randomize(ln)
        mod = torch.nn.LayerNorm(8, eps=1e-5, dtype=F64)
        mod.load_state_dict(ln.state_dict())
        x = torch.randn(3, 4, 8, dtype=F64)
        torch.testing.assert_close(ln(x), mod(x))
        # the spec's formula, biased variance
        mu = x.mean(-1, keepdim=True)
        want = (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5) * ln.weight + ln.bias
        torch.testing.assert_close(ln(x), want)
        self.assertEqual(set(ref.LayerNorm(8, 1e-5, False).state_dict()), {"weight"})

    def test_activations_match_the_spec_formulas(self):
        t = torch.linspace(-4, 4, 101, dtype=F64)
        k = math.sqrt(2 / math.pi)
        want = {
            "gelu": t / 2 * (1 + torch.erf(t / math.sqrt(2))),
            "gelu_tanh": t / 2 * (1 + torch.tanh(k * (t + 0.044715 * t ** 3))),
            "relu2": torch.clamp(t, min=0) ** 2,
            "swiglu": t * torch.sigmoid(t),
        }
        for act, w in want.items():
            ffn = ref.FFN(self.cfg(activation=act))
            torch.testing.assert_close(ffn.act(t), w, msg=act)
        self.assertGreater((want["gelu"] - want["gelu_tanh"]).abs().max().item(), 1e-4)

    def test_weight_names(self):
        m = ref.build(self.cfg(norm="layernorm", norm_bias=True, activation="gelu_tanh",
                               positions="learned", tie_embeddings=True, qkv_bias=True,
                               out_bias=True, mlp_bias=True))
        names = m.expected_weights()
        self.assertEqual(names["pos_embed.weight"], (16, 8))
        self.assertNotIn("head.weight", names)
        self.assertNotIn("layers.0.ffn.w3.weight", names)
        for n in ("layers.1.attn_norm.bias", "norm.bias", "layers.0.attn.wq.bias",
                  "layers.0.attn.wo.bias", "layers.0.ffn.w1.bias", "layers.0.ffn.w2.bias"):
            self.assertIn(n, names)
        g = ref.build(self.cfg(activation="geglu", mlp_bias=True)).expected_weights()
        self.assertEqual(g["layers.0.ffn.w3.bias"], (12,))
        self.assertNotIn("pos_embed.weight", g)

    def test_tied_head_reads_the_embedding(self):
        m = self.randomize(ref.build(self.cfg(tie_embeddings=True)))
        ids = torch.tensor([[1, 2, 3]])
        with torch.no_grad():
            logits = m(ids)
            m.embed.weight.mul_(2)
            self.assertFalse(torch.allclose(logits, m(ids)))

    def test_cached_steps_match_the_full_forward(self):
        for kw in (dict(positions="learned"), dict(positions="none", head_dim=3),
                   dict(qkv_bias=True, out_bias=True, norm="layernorm", norm_bias=True)):
            m = self.randomize(ref.build(self.cfg(**kw))).eval()
            ids = torch.tensor([[1, 5, 2, 7, 3], [4, 4, 0, 9, 12]])
            with torch.no_grad():
                full = m(ids)
                a, cache = m.forward_cached(ids[:, :3], m.empty_cache(2))
                b, _ = m.forward_cached(ids[:, 3:], cache)
            torch.testing.assert_close(torch.cat([a, b], 1), full, msg=str(kw))

    def test_positions_matter(self):
        """Without positions one layer of attention cannot tell the order of the tokens
        before the last; learned positions and RoPE can."""
        for pos, differs in (("none", False), ("learned", True), ("rope", True)):
            m = self.randomize(ref.build(self.cfg(positions=pos, hc_kind="residual", layers=1))).eval()
            with torch.no_grad():
                a = m(torch.tensor([[1, 2, 3]]))[0, -1]
                b = m(torch.tensor([[2, 1, 3]]))[0, -1]
            self.assertEqual(not torch.allclose(a, b), differs, pos)


class CheckpointTest(unittest.TestCase):
    """checkpoint_io: Hugging Face names and sharded checkpoints."""

    def test_hf_llama_names(self):
        import checkpoint_io as ck
        cfg = ref.Config(kind="decoder", vocab_size=11, hidden_size=8, layers=2, heads=2, kv_heads=1,
                         ffn_hidden_size=12)
        names = sorted(ref.build(cfg).expected_weights())
        hf = [ck.hf_llama_name(n) for n in names]
        self.assertIn("model.layers.1.self_attn.k_proj.weight", hf)
        self.assertIn("model.layers.0.mlp.up_proj.weight", hf)
        self.assertIn("lm_head.weight", hf)
        self.assertIn("model.hc_head_fn", hf)
        self.assertEqual(len(set(hf)), len(hf))
        self.assertEqual([ck.spec_name_hf_llama(n) for n in hf], names)

    def test_sharded_round_trip(self):
        import json
        import tempfile
        import checkpoint_io as ck
        tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4), "c": torch.zeros(1)}
        with tempfile.TemporaryDirectory() as d:
            path = ck.save_sharded(tensors, d, 2)
            back = ck.read_tensors(path)
            self.assertEqual(sorted(back), ["a", "b", "c"])
            for k in tensors:
                self.assertTrue(torch.equal(back[k], tensors[k]))
            with open(path) as f:
                index = json.load(f)
            self.assertEqual(index["weight_map"]["b"], "model-00002-of-00002.safetensors")
            index["weight_map"]["b"] = "model-00001-of-00002.safetensors"  # the index lies
            with open(path, "w") as f:
                json.dump(index, f)
            with self.assertRaises(KeyError):
                ck.read_tensors(path)

    def test_nanogpt_layout(self):
        import checkpoint_io as ck
        cfg = ref.Config(kind="decoder", vocab_size=11, hidden_size=8, layers=2, heads=2,
                         ffn_hidden_size=12, norm="layernorm", norm_bias=True, activation="gelu_tanh",
                         positions="learned", tie_embeddings=True, qkv_bias=True, out_bias=True,
                         mlp_bias=True, max_sequence=16)
        shapes = ref.build(cfg).expected_weights()
        g = torch.Generator().manual_seed(3)
        w = {n: torch.randn(shapes[n], generator=g) for n in shapes}
        nano = ck.to_nanogpt(w)
        # nanoGPT's c_attn: one [3C, C] Linear whose output splits into q, k, v in that order.
        c_attn = nano["transformer.h.1.attn.c_attn.weight"]
        self.assertEqual(tuple(c_attn.shape), (24, 8))
        self.assertTrue(torch.equal(c_attn[8:16], w["layers.1.attn.wk.weight"]))
        self.assertTrue(torch.equal(nano["transformer.h.0.attn.c_attn.bias"][16:], w["layers.0.attn.wv.bias"]))
        self.assertTrue(torch.equal(nano["lm_head.weight"], w["embed.weight"]))
        for name in ("transformer.wpe.weight", "transformer.h.0.ln_2.bias", "transformer.h.1.mlp.c_proj.weight",
                     "transformer.ln_f.bias", "transformer.h.0.hc_attn_fn", "transformer.hc_head_base"):
            self.assertIn(name, nano)
        back = ck.from_nanogpt(nano, 2, 2, 4)
        self.assertEqual(sorted(back), sorted(w))
        for n in w:
            self.assertTrue(torch.equal(back[n], w[n]), n)
        nano["lm_head.weight"] = nano["lm_head.weight"] + 1  # not tied: refused
        with self.assertRaises(ValueError):
            ck.from_nanogpt(nano, 2, 2, 4)


class GoldenTest(unittest.TestCase):
    """The checked-in fixtures agree with the reference (catches stale fixtures)."""

    ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "golden")

    def test_fixtures(self):
        if not os.path.isdir(self.ROOT):
            self.skipTest("no fixtures")
        cases = sorted(d for d in os.listdir(self.ROOT) if os.path.isdir(os.path.join(self.ROOT, d)))
        self.assertTrue(cases)
        for case in cases:
            d = os.path.join(self.ROOT, case)
            cfg, model = ref.load_yaml_model(os.path.join(d, "model.yaml"))
            io = st.load(os.path.join(d, "io.safetensors"))
            runs = sorted({k.split(".")[0] for k in io})
            self.assertGreaterEqual(len(runs), 2, case)
            for r in runs:
                if cfg.kind == "decoder":
                    out = model(io[r + ".input_ids"])
                    want = io[r + ".logits"]
                else:
                    out = model(io[r + ".x"].to(F64))
                    want = io[r + ".y"]
                self.assertEqual(want.dtype, torch.float32)
                torch.testing.assert_close(out, want.to(F64), atol=1e-6, rtol=1e-6, msg=case + " " + r)


if __name__ == "__main__":
    unittest.main()

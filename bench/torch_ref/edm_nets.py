"""PyTorch reference networks for the native engine: EDM's SongUNet (DDPM++ / NCSN++), EDM's ADM
network (DhariwalUNet), EDM's preconditioning, and the project's MLP denoiser for vectors.

Written from EDM's training/networks.py (Karras et al. 2022) so that, for the same options:
  * state_dict keys are EDM's (weights move between EDM checkpoints, this file and the C++ engine);
  * the initialisation consumes the torch RNG in EDM's order (same seed -> same weights as EDM);
  * the forward pass is the same computation in the same order (float32).
The C++ engine is checked against fixtures made with these modules (test/fixtures/gen/networks.py),
so anything that looks like an odd detail here (the sin/cos swap, the interleaved qkv layout, the
label scaling by sqrt(label_dim)) is a detail the engine must reproduce.
"""
import math

import torch
from torch.nn.functional import silu


def weight_init(shape, mode, fan_in, fan_out):
    # Same draws as EDM: one torch.rand/randn call of the full shape per tensor, so that building
    # modules in EDM's order with EDM's seed reproduces EDM's weights bit for bit.
    if mode == "xavier_uniform":
        return math.sqrt(6 / (fan_in + fan_out)) * (torch.rand(*shape) * 2 - 1)
    if mode == "xavier_normal":
        return math.sqrt(2 / (fan_in + fan_out)) * torch.randn(*shape)
    if mode == "kaiming_uniform":
        return math.sqrt(3 / fan_in) * (torch.rand(*shape) * 2 - 1)
    if mode == "kaiming_normal":
        return math.sqrt(1 / fan_in) * torch.randn(*shape)
    raise ValueError(f"unknown init mode {mode!r}")


class Linear(torch.nn.Module):
    """y = x W^T + b with W [out, in] (PyTorch layout). The bias is drawn (and then scaled by
    init_bias, 0 in SongUNet) even when zero, only to keep EDM's RNG sequence."""

    def __init__(self, in_features, out_features, bias=True, init_mode="kaiming_normal", init_weight=1, init_bias=0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        kw = dict(mode=init_mode, fan_in=in_features, fan_out=out_features)
        self.weight = torch.nn.Parameter(weight_init([out_features, in_features], **kw) * init_weight)
        self.bias = torch.nn.Parameter(weight_init([out_features], **kw) * init_bias) if bias else None

    def forward(self, x):
        x = x @ self.weight.t()
        return x + self.bias if self.bias is not None else x


class Conv2d(torch.nn.Module):
    """'Same' convolution (odd kernel, stride 1) with optional 2x up/down-sampling by a separable
    FIR filter, as in EDM. kernel = 0 means a pure resampler with no weights (the skip/aux paths).

    The filter f (outer product of resample_filter, normalised to sum 1) is a buffer named
    'resample_filter', present only when up or down (EDM registers None otherwise, which leaves it
    out of the state_dict). Unfused order: resample first, then convolve. The fused variant
    (used only by the NCSN++ residual encoder's aux_residual, down only) convolves first with
    padding w_pad + f_pad and then filters with stride 2 and no padding."""

    def __init__(self, in_channels, out_channels, kernel, bias=True, up=False, down=False,
                 resample_filter=(1, 1), fused_resample=False, init_mode="kaiming_normal", init_weight=1, init_bias=0):
        assert not (up and down)
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.up = up
        self.down = down
        self.fused_resample = fused_resample
        kw = dict(mode=init_mode, fan_in=in_channels * kernel * kernel, fan_out=out_channels * kernel * kernel)
        self.weight = torch.nn.Parameter(weight_init([out_channels, in_channels, kernel, kernel], **kw) * init_weight) if kernel else None
        self.bias = torch.nn.Parameter(weight_init([out_channels], **kw) * init_bias) if kernel and bias else None
        f = torch.as_tensor(list(resample_filter), dtype=torch.float32)
        f = torch.outer(f, f).unsqueeze(0).unsqueeze(1) / f.sum().square()
        self.register_buffer("resample_filter", f if up or down else None)

    def forward(self, x):
        w, b, f = self.weight, self.bias, self.resample_filter
        w_pad = w.shape[-1] // 2 if w is not None else 0
        f_pad = (f.shape[-1] - 1) // 2 if f is not None else 0
        F = torch.nn.functional
        if self.fused_resample and self.up and w is not None:
            x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels,
                                   stride=2, padding=max(f_pad - w_pad, 0))
            x = F.conv2d(x, w, padding=max(w_pad - f_pad, 0))
        elif self.fused_resample and self.down and w is not None:
            x = F.conv2d(x, w, padding=w_pad + f_pad)
            x = F.conv2d(x, f.tile([self.out_channels, 1, 1, 1]), groups=self.out_channels, stride=2)
        else:
            if self.up:
                # x4 keeps the mean: a transposed stride-2 conv spreads each pixel over 4 outputs.
                x = F.conv_transpose2d(x, f.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels,
                                       stride=2, padding=f_pad)
            if self.down:
                x = F.conv2d(x, f.tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2, padding=f_pad)
            if w is not None:
                x = F.conv2d(x, w, padding=w_pad)
        if b is not None:
            x = x + b.reshape(1, -1, 1, 1)
        return x


class GroupNorm(torch.nn.Module):
    """EDM's group norm: num_groups = min(32, C // 4), affine weight 1 / bias 0."""

    def __init__(self, num_channels, num_groups=32, min_channels_per_group=4, eps=1e-5):
        super().__init__()
        self.num_groups = min(num_groups, num_channels // min_channels_per_group)
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(num_channels))
        self.bias = torch.nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        return torch.nn.functional.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class UNetBlock(torch.nn.Module):
    """EDM's residual block: SongUNet's settings below; DhariwalUNet's differ (see there).

    forward (SongUNet settings: adaptive_scale False, skip_scale sqrt(1/2), num_heads 1):
        h = conv0(silu(norm0(x)))                       # conv0 carries up/down if any
        h = silu(norm1(h + affine(emb)[:, :, None, None]))
        h = conv1(dropout(h))
        x = (h + (skip(x) if skip else x)) * skip_scale
        if attention:
            qkv = qkv(norm2(x)) viewed as [B*heads, C/heads, 3, HW]  -> q, k, v = [..., 0/1/2, :]
            (so output channel 3*c + j of the qkv conv is component j of channel c: interleaved)
            w = softmax_k(sum_c q[c, q_pos] k[c, k_pos] / sqrt(C/heads))
            a[c, q_pos] = sum_k w[q_pos, k] v[c, k]
            x = (proj(a) + x) * skip_scale
    """

    def __init__(self, in_channels, out_channels, emb_channels, up=False, down=False, attention=False,
                 num_heads=None, channels_per_head=64, dropout=0, skip_scale=1, eps=1e-5,
                 resample_filter=(1, 1), resample_proj=False, adaptive_scale=True,
                 init=None, init_zero=None, init_attn=None):
        super().__init__()
        init = init if init is not None else {}
        init_zero = init_zero if init_zero is not None else dict(init_weight=0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.emb_channels = emb_channels
        self.num_heads = 0 if not attention else num_heads if num_heads is not None else out_channels // channels_per_head
        self.dropout = dropout
        self.skip_scale = skip_scale
        self.adaptive_scale = adaptive_scale

        # Construction order is EDM's (it fixes both the RNG sequence and the state_dict order).
        self.norm0 = GroupNorm(in_channels, eps=eps)
        self.conv0 = Conv2d(in_channels, out_channels, kernel=3, up=up, down=down, resample_filter=resample_filter, **init)
        self.affine = Linear(emb_channels, out_channels * (2 if adaptive_scale else 1), **init)
        self.norm1 = GroupNorm(out_channels, eps=eps)
        self.conv1 = Conv2d(out_channels, out_channels, kernel=3, **init_zero)
        self.skip = None
        if out_channels != in_channels or up or down:
            kernel = 1 if resample_proj or out_channels != in_channels else 0
            self.skip = Conv2d(in_channels, out_channels, kernel=kernel, up=up, down=down, resample_filter=resample_filter, **init)
        if self.num_heads:
            self.norm2 = GroupNorm(out_channels, eps=eps)
            self.qkv = Conv2d(out_channels, out_channels * 3, kernel=1, **(init_attn if init_attn is not None else init))
            self.proj = Conv2d(out_channels, out_channels, kernel=1, **init_zero)

    def forward(self, x, emb):
        orig = x
        x = self.conv0(silu(self.norm0(x)))
        params = self.affine(emb).unsqueeze(2).unsqueeze(3)
        if self.adaptive_scale:
            scale, shift = params.chunk(2, dim=1)
            x = silu(torch.addcmul(shift, self.norm1(x), scale + 1))
        else:
            x = silu(self.norm1(x + params))
        x = self.conv1(torch.nn.functional.dropout(x, p=self.dropout, training=self.training))
        x = x + (self.skip(orig) if self.skip is not None else orig)
        x = x * self.skip_scale
        if self.num_heads:
            B, C, H, W = x.shape
            q, k, v = self.qkv(self.norm2(x)).reshape(B * self.num_heads, C // self.num_heads, 3, -1).unbind(2)
            # EDM computes the logits in float32 and scales k (not the product); same math here.
            w = torch.einsum("ncq,nck->nqk", q, k / math.sqrt(k.shape[1])).softmax(dim=2)
            a = torch.einsum("nqk,nck->ncq", w, v)
            x = self.proj(a.reshape(B, C, H, W)) + x
            x = x * self.skip_scale
        return x


class PositionalEmbedding(torch.nn.Module):
    """[cos(x f_j) | sin(x f_j)], f_j = (1/max_positions)^(j / (C/2 - endpoint)), j < C/2.
    No parameters and no buffers (the frequencies are recomputed), as in EDM."""

    def __init__(self, num_channels, max_positions=10000, endpoint=False):
        super().__init__()
        self.num_channels = num_channels
        self.max_positions = max_positions
        self.endpoint = endpoint

    def forward(self, x):
        freqs = torch.arange(0, self.num_channels // 2, dtype=torch.float32, device=x.device)
        freqs = freqs / (self.num_channels // 2 - (1 if self.endpoint else 0))
        freqs = (1 / self.max_positions) ** freqs
        x = torch.outer(x, freqs)
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(torch.nn.Module):
    """[cos(2 pi x f_j) | sin(2 pi x f_j)] with f ~ N(0, scale^2) fixed at construction: a buffer
    'freqs' (so it is saved and must be loaded, but never trained)."""

    def __init__(self, num_channels, scale=16):
        super().__init__()
        self.register_buffer("freqs", torch.randn(num_channels // 2) * scale)

    def forward(self, x):
        x = torch.outer(x, 2 * math.pi * self.freqs)
        return torch.cat([x.cos(), x.sin()], dim=1)


def swap_halves(emb):
    # EDM's SongUNet flips [cos | sin] to [sin | cos] after the embedding (kept for checkpoint
    # compatibility with Song et al.); map_layer0's input columns follow that order.
    return emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(*emb.shape)


def drop_labels(labels, p, training):
    # Classifier-free-guidance label dropout, EDM's form: one uniform u per sample, the sample's
    # whole label vector is zeroed when u < p (kept when u >= p). Only in training mode.
    if training and p:
        keep = (torch.rand([labels.shape[0], 1], device=labels.device) >= p).to(labels.dtype)
        return labels * keep
    return labels


class SongUNet(torch.nn.Module):
    """EDM's SongUNet (DDPM++ and NCSN++ of Song et al. 2021). Options and defaults as EDM.

    Mapping network:
        emb = swap_halves(map_noise(noise_labels))
        + map_label(drop_labels(class_labels) * sqrt(label_dim))      if label_dim
        + map_augment(augment_labels)  (Linear, no bias)               if augment_dim and given
        emb = silu(map_layer1(silu(map_layer0(emb))))
    Encoder/decoder: see forward(); every UNetBlock uses GroupNorm eps 1e-6, skip_scale sqrt(1/2),
    one attention head, adaptive_scale False, resample_proj True.
    """

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0, augment_dim=0,
                 model_channels=128, channel_mult=(1, 2, 2, 2), channel_mult_emb=4, num_blocks=4,
                 attn_resolutions=(16,), dropout=0.10, label_dropout=0, embedding_type="positional",
                 channel_mult_noise=1, encoder_type="standard", decoder_type="standard", resample_filter=(1, 1)):
        assert embedding_type in ("fourier", "positional")
        assert encoder_type in ("standard", "skip", "residual")
        assert decoder_type in ("standard", "skip")
        super().__init__()
        self.label_dropout = label_dropout
        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * channel_mult_noise
        init = dict(init_mode="xavier_uniform")
        init_zero = dict(init_mode="xavier_uniform", init_weight=1e-5)
        init_attn = dict(init_mode="xavier_uniform", init_weight=math.sqrt(0.2))
        blk = dict(emb_channels=emb_channels, num_heads=1, dropout=dropout, skip_scale=math.sqrt(0.5), eps=1e-6,
                   resample_filter=resample_filter, resample_proj=True, adaptive_scale=False,
                   init=init, init_zero=init_zero, init_attn=init_attn)

        self.map_noise = (PositionalEmbedding(noise_channels, endpoint=True) if embedding_type == "positional"
                          else FourierEmbedding(noise_channels))
        self.map_label = Linear(label_dim, noise_channels, **init) if label_dim else None
        self.map_augment = Linear(augment_dim, noise_channels, bias=False, **init) if augment_dim else None
        self.map_layer0 = Linear(noise_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)

        # Encoder. 'aux' modules carry the input image (skip) or a residual stream (residual) down
        # alongside the main path; they are not U-Net skip sources.
        self.enc = torch.nn.ModuleDict()
        cout = in_channels
        caux = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin = cout
                cout = model_channels
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, kernel=3, **init)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, down=True, **blk)
                if encoder_type == "skip":
                    self.enc[f"{res}x{res}_aux_down"] = Conv2d(caux, caux, kernel=0, down=True, resample_filter=resample_filter)
                    self.enc[f"{res}x{res}_aux_skip"] = Conv2d(caux, cout, kernel=1, **init)
                if encoder_type == "residual":
                    self.enc[f"{res}x{res}_aux_residual"] = Conv2d(caux, cout, kernel=3, down=True, resample_filter=resample_filter,
                                                                   fused_resample=True, **init)
                    caux = cout
            for idx in range(num_blocks):
                cin = cout
                cout = model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=(res in attn_resolutions), **blk)
        skips = [m.out_channels for name, m in self.enc.items() if "aux" not in name]

        # Decoder. Attention in the decoder only on the last block of a level (unlike the encoder).
        self.dec = torch.nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, attention=True, **blk)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, **blk)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, up=True, **blk)
            for idx in range(num_blocks + 1):
                cin = cout + skips.pop()
                cout = model_channels * mult
                attn = idx == num_blocks and res in attn_resolutions
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **blk)
            if decoder_type == "skip" or level == 0:
                if decoder_type == "skip" and level < len(channel_mult) - 1:
                    self.dec[f"{res}x{res}_aux_up"] = Conv2d(out_channels, out_channels, kernel=0, up=True, resample_filter=resample_filter)
                self.dec[f"{res}x{res}_aux_norm"] = GroupNorm(cout, eps=1e-6)
                self.dec[f"{res}x{res}_aux_conv"] = Conv2d(cout, out_channels, kernel=3, **init_zero)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        emb = swap_halves(self.map_noise(noise_labels))
        if self.map_label is not None:
            tmp = drop_labels(class_labels, self.label_dropout, self.training)
            emb = emb + self.map_label(tmp * math.sqrt(self.map_label.in_features))
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = silu(self.map_layer0(emb))
        emb = silu(self.map_layer1(emb))

        skips = []
        aux = x
        for name, block in self.enc.items():
            if "aux_down" in name:
                aux = block(aux)
            elif "aux_skip" in name:
                # Replaces the skip just pushed by the preceding _down block.
                x = skips[-1] = x + block(aux)
            elif "aux_residual" in name:
                x = skips[-1] = aux = (x + block(aux)) / math.sqrt(2)
            else:
                x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
                skips.append(x)

        # The decoder's output is the sum of the aux_conv heads (one per level with decoder 'skip',
        # the level-0 head only with 'standard'); lower-resolution heads are upsampled by aux_up.
        aux = None
        tmp = None
        for name, block in self.dec.items():
            if "aux_up" in name:
                aux = block(aux)
            elif "aux_norm" in name:
                tmp = block(x)
            elif "aux_conv" in name:
                tmp = block(silu(tmp))
                aux = tmp if aux is None else tmp + aux
            else:
                # A block wider than x takes the next skip (channel concat [x, skip]).
                if x.shape[1] != block.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = block(x, emb)
        return aux


class DhariwalUNet(torch.nn.Module):
    """EDM's ADM network (Dhariwal & Nichol's U-Net as EDM reimplements it). Options and defaults
    as EDM's constructor; the engine's twin is src/native/nn/dhariwal_unet.cc with adm_mapping.cc.

    Differs from SongUNet in:
      * init: kaiming_uniform with weight and bias x sqrt(1/3); init_zero is exactly 0 (out_conv,
        every conv1 and proj, map_augment);
      * mapping: emb = PositionalEmbedding(model_channels, endpoint=False)(noise_labels), kept
        [cos | sin] (no swap), + map_augment(augment_labels); emb = map_layer1(silu(map_layer0(emb)));
        emb += map_label(drop_labels(class_labels)), the labels unscaled (map_label has no bias
        and its weights carry the sqrt(label_dim) instead); emb = silu(emb). map_label is built
        last, after map_layer1 (EDM's RNG order);
      * blocks: adaptive scale (silu(shift + norm1(h) * (scale + 1))), skip_scale 1, eps 1e-5,
        resample_proj False, out_channels // 64 attention heads (no attention layers below 64
        channels, even at attn_resolutions), attention on every block of a listed resolution;
      * the encoder's first conv is model_channels * channel_mult[0] wide, every encoder output
        is a skip, and the head is out_conv(silu(out_norm(x))).
    """

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0, augment_dim=0,
                 model_channels=192, channel_mult=(1, 2, 3, 4), channel_mult_emb=4, num_blocks=3,
                 attn_resolutions=(32, 16, 8), dropout=0.10, label_dropout=0):
        super().__init__()
        self.label_dropout = label_dropout
        emb_channels = model_channels * channel_mult_emb
        third = math.sqrt(1 / 3)
        init = dict(init_mode="kaiming_uniform", init_weight=third, init_bias=third)
        init_zero = dict(init_mode="kaiming_uniform", init_weight=0, init_bias=0)
        blk = dict(emb_channels=emb_channels, channels_per_head=64, dropout=dropout, init=init, init_zero=init_zero)

        self.map_noise = PositionalEmbedding(model_channels)
        self.map_augment = Linear(augment_dim, model_channels, bias=False, **init_zero) if augment_dim else None
        self.map_layer0 = Linear(model_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)
        self.map_label = (Linear(label_dim, emb_channels, bias=False, init_mode="kaiming_normal",
                                 init_weight=math.sqrt(label_dim)) if label_dim else None)

        self.enc = torch.nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin = cout
                cout = model_channels * mult
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, kernel=3, **init)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, down=True, **blk)
            for idx in range(num_blocks):
                cin = cout
                cout = model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=(res in attn_resolutions), **blk)
        skips = [m.out_channels for m in self.enc.values()]

        self.dec = torch.nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, attention=True, **blk)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, **blk)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, up=True, **blk)
            for idx in range(num_blocks + 1):
                cin = cout + skips.pop()
                cout = model_channels * mult
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=(res in attn_resolutions), **blk)
        self.out_norm = GroupNorm(cout)
        self.out_conv = Conv2d(cout, out_channels, kernel=3, **init_zero)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        emb = self.map_noise(noise_labels)
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = self.map_layer1(silu(self.map_layer0(emb)))
        if self.map_label is not None:
            emb = emb + self.map_label(drop_labels(class_labels, self.label_dropout, self.training))
        emb = silu(emb)

        skips = []
        for block in self.enc.values():
            x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
            skips.append(x)
        for block in self.dec.values():
            if x.shape[1] != block.in_channels:
                x = torch.cat([x, skips.pop()], dim=1)
            x = block(x, emb)
        return self.out_conv(silu(self.out_norm(x)))


class MLP(torch.nn.Module):
    """The project's denoiser for vectors (toy 2-D data and other flat data). Not from EDM; its
    module names and the formulas below are a contract with the C++ engine.

        emb = swap_halves(PositionalEmbedding(noise_channels, endpoint=True)(noise_labels))
        emb += map_label(drop_labels(class_labels) * sqrt(label_dim))        if label_dim
        emb = silu(map_layer1(silu(map_layer0(emb))))
        h = in_proj(x)
        for i: t = silu(blocks.i.fc0(silu(h)) + blocks.i.affine(emb)); h = h + blocks.i.fc1(dropout(t))
        F = out_proj(silu(h))
    Init: xavier_uniform weights, zero biases; fc1 and out_proj weights x 1e-5 (EDM's init_zero),
    so at init every block is close to the identity and F is close to 0 (D close to c_skip x).
    """

    def __init__(self, in_features, label_dim=0, hidden=256, num_blocks=4, emb_channels=256, noise_channels=64,
                 dropout=0.0, label_dropout=0.0):
        super().__init__()
        self.in_features = in_features
        self.label_dropout = label_dropout
        self.dropout = dropout
        init = dict(init_mode="xavier_uniform")
        init_zero = dict(init_mode="xavier_uniform", init_weight=1e-5)
        self.map_noise = PositionalEmbedding(noise_channels, endpoint=True)
        self.map_label = Linear(label_dim, noise_channels, **init) if label_dim else None
        self.map_layer0 = Linear(noise_channels, emb_channels, **init)
        self.map_layer1 = Linear(emb_channels, emb_channels, **init)
        self.in_proj = Linear(in_features, hidden, **init)
        self.blocks = torch.nn.ModuleList()
        for _ in range(num_blocks):
            b = torch.nn.Module()
            b.fc0 = Linear(hidden, hidden, **init)
            b.affine = Linear(emb_channels, hidden, **init)
            b.fc1 = Linear(hidden, hidden, **init_zero)
            self.blocks.append(b)
        self.out_proj = Linear(hidden, in_features, **init_zero)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        emb = swap_halves(self.map_noise(noise_labels))
        if self.map_label is not None:
            tmp = drop_labels(class_labels, self.label_dropout, self.training)
            emb = emb + self.map_label(tmp * math.sqrt(self.map_label.in_features))
        emb = silu(self.map_layer0(emb))
        emb = silu(self.map_layer1(emb))
        h = self.in_proj(x)
        for b in self.blocks:
            t = silu(b.fc0(silu(h)) + b.affine(emb))
            t = torch.nn.functional.dropout(t, p=self.dropout, training=self.training)
            h = h + b.fc1(t)
        return self.out_proj(silu(h))


class Precond(torch.nn.Module):
    """EDM preconditioning (docs/method.md §2.2) around any of the networks above:
        c_skip = sd^2/(s^2+sd^2), c_out = s sd/sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2), c_noise = ln(s)/4
        D(x, s) = c_skip x + c_out F(c_in x, c_noise)
    It owns no parameters, and its state_dict / named_parameters are the inner model's with no
    'model.' prefix, so a checkpoint's keys are exactly EDM's SongUNet keys (what the engine saves)."""

    def __init__(self, model, sigma_data=0.5):
        super().__init__()
        self.model = model
        self.sigma_data = sigma_data
        self.label_dim = model.map_label.in_features if getattr(model, "map_label", None) is not None else 0

    # Delegation keeps the inner names unprefixed everywhere (state_dict, load, parameters).
    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self.model.named_parameters(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self.model.named_buffers(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)

    def forward(self, x, sigma, class_labels=None, augment_labels=None, return_raw=False):
        x = x.to(torch.float32)
        sigma = sigma.to(torch.float32).reshape(-1, *([1] * (x.ndim - 1)))
        if self.label_dim == 0:
            class_labels = None
        elif class_labels is None:
            # EDM: no labels given -> the all-zero label (the unconditional branch of CFG).
            class_labels = torch.zeros([1, self.label_dim], device=x.device)
        else:
            class_labels = class_labels.to(torch.float32).reshape(-1, self.label_dim)
        sd = self.sigma_data
        c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
        c_out = sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
        c_noise = sigma.log() / 4
        F_x = self.model(c_in * x, c_noise.flatten(), class_labels, augment_labels=augment_labels)
        D_x = c_skip * x + c_out * F_x
        return (D_x, F_x) if return_raw else D_x


def edm_loss(D_x, y, sigma, sigma_data=0.5):
    """docs/method.md §2.2: mean over the batch of lambda(sigma) * sum over dims of (D - y)^2,
    lambda = (sigma^2 + sd^2) / (sigma sd)^2."""
    sigma = sigma.reshape(-1)  # one sigma per sample, whatever shape the caller broadcast it to
    weight = (sigma ** 2 + sigma_data ** 2) / (sigma * sigma_data) ** 2
    return (weight * ((D_x - y) ** 2).flatten(1).sum(1)).mean()


# EDM's published configurations (train.py: --arch=ddpmpp / ncsnpp, --cres for FFHQ) and the
# project's small DDPM++ for 28x28 grey images. EDM trains the published networks with its
# augmentation pipeline, so they carry map_augment (augment_dim 9), as pfgm's presets do
# (src/models/config.ts); the small network has none.
_DDPMPP = dict(model_channels=128, channel_mult=[2, 2, 2], channel_mult_emb=4, num_blocks=4, attn_resolutions=[16],
               embedding_type="positional", channel_mult_noise=1, encoder_type="standard", decoder_type="standard",
               resample_filter=[1, 1], label_dim=0, augment_dim=0, label_dropout=0)
PRESETS = {
    "ddpmpp-cifar10": dict(_DDPMPP, img_resolution=32, in_channels=3, out_channels=3, dropout=0.13, augment_dim=9),
    "ncsnpp-cifar10": dict(_DDPMPP, img_resolution=32, in_channels=3, out_channels=3, dropout=0.13, augment_dim=9,
                           embedding_type="fourier", channel_mult_noise=2, encoder_type="residual",
                           resample_filter=[1, 3, 3, 1]),
    "ddpmpp-ffhq64": dict(_DDPMPP, img_resolution=64, in_channels=3, out_channels=3, dropout=0.05, augment_dim=9,
                          channel_mult=[1, 2, 2, 2]),
    "ddpmpp-small": dict(_DDPMPP, img_resolution=28, in_channels=1, out_channels=1, model_channels=32,
                         channel_mult=[1, 2, 2], num_blocks=2, attn_resolutions=[7], dropout=0.1),
}


# A model file's config 'kind' (src/models/config.ts) -> the module that builds it.
NETWORKS = {"songunet": SongUNet, "dhariwalunet": DhariwalUNet, "mlp": MLP}


def build(kind, config):
    """Network from a fixture/preset config (EDM's snake_case kwargs; 'kind' and 'sigma_data'
    are ours and not constructor arguments)."""
    if kind not in NETWORKS:
        raise ValueError(f"unknown network kind {kind!r}; one of {', '.join(NETWORKS)} expected")
    kwargs = {k: v for k, v in config.items() if k not in ("kind", "sigma_data")}
    return Precond(NETWORKS[kind](**kwargs), sigma_data=config.get("sigma_data", 0.5))


def count_params(module):
    return sum(p.numel() for p in module.parameters())


if __name__ == "__main__":
    # EDM's paper quotes 55.73 M / 56.40 M / 61.81 M, counting map_augment.weight
    # [noise_channels, 9] (train.py sets augment_dim = 9 with augmentation on).
    published = {"ddpmpp-cifar10": "55.73", "ncsnpp-cifar10": "56.40", "ddpmpp-ffhq64": "61.81"}
    torch.manual_seed(0)
    for name, cfg in PRESETS.items():
        n = count_params(SongUNet(**cfg))
        line = f"{name:16s} {n:>11,d} ({n / 1e6:.2f} M)"
        if name in published:
            ok = f"{n / 1e6:.2f}" == published[name]
            line += f"   EDM {published[name]} M: {'ok' if ok else 'MISMATCH'}"
            assert ok, line
        print(line)
    # EDM's ImageNet-64 ADM network (train.py --arch=adm --cond=1): 295,899,267 parameters as EDM's
    # DhariwalUNet counts them (docs/engine.md; pfgm's adm-imagenet64 preset). Built on the meta
    # device: only the shapes are needed.
    with torch.device("meta"):
        n = count_params(DhariwalUNet(img_resolution=64, in_channels=3, out_channels=3, label_dim=1000))
    line = f"{'adm-imagenet64':16s} {n:>11,d} ({n / 1e6:.2f} M)   EDM 295,899,267: {'ok' if n == 295899267 else 'MISMATCH'}"
    assert n == 295899267, line
    print(line)

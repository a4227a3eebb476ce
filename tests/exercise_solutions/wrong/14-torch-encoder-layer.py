"""The mistake: pre-norm (x + f(norm(x))) where the model is post-norm (norm(x + f(x)))."""
import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        dk = d // self.h
        q, k, v = (x @ self.in_proj_weight.T + self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (a.view(b, t, self.h, dk).transpose(1, 2) for a in (q, k, v))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dk), dim=-1)
        return self.out_proj((p @ v).transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.self_attn = SelfAttention(d_model, n_heads)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x):
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear2(torch.relu(self.linear1(self.norm2(x))))


def encoder_layer(d_model, n_heads, d_ff):
    return EncoderLayer(d_model, n_heads, d_ff)

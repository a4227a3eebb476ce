import torch
import torch.nn.functional as F


def training_step(model, optimizer, src, tgt_in, tgt_out):
    optimizer.zero_grad()
    logits = model(src, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
    loss.backward()
    optimizer.step()
    return loss.item()

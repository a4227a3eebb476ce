"""The mistake: no zero_grad, so the earlier batch's gradients are added in."""
import torch.nn.functional as F


def training_step(model, optimizer, src, tgt_in, tgt_out):
    logits = model(src, tgt_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
    loss.backward()
    optimizer.step()
    return loss.item()

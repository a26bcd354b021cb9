# Test fixture for mae-inspect: a stand-in for the official util/lars.py (LARS as in MoCo v3; same name,
# defaults and update, written for these tests): no decay and no trust ratio for tensors of <= 1 dim.
import torch


class LARS(torch.optim.Optimizer):
    """LARS; tensors of one dimension get neither weight decay nor the trust ratio."""

    def __init__(self, params, lr=0, weight_decay=0, momentum=0.9, trust_coefficient=0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      trust_coefficient=trust_coefficient))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim > 1:
                    d = d.add(p, alpha=group["weight_decay"])
                    w, u = torch.norm(p), torch.norm(d)
                    one = torch.ones_like(w)
                    q = torch.where(w > 0., torch.where(u > 0, (group["trust_coefficient"] * w / u), one), one)
                    d = d.mul(q)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                state["mu"].mul_(group["momentum"]).add_(d)
                p.add_(state["mu"], alpha=-group["lr"])

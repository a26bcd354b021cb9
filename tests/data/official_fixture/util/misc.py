# Test fixture: stands in for the official util/misc.py, which imports torch._six at import time.
import torch
from torch._six import inf


def total_norm(parameters, norm_type=2.0):
    """Norm of all gradients together (inf-norm: the largest entry)."""
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    if norm_type == inf:
        return max(g.abs().max() for g in grads)
    return torch.norm(torch.stack([torch.norm(g, norm_type) for g in grads]), norm_type)


# --- the training helpers engine_pretrain.py / engine_finetune.py use (same names as the official ones) ---
import torch.distributed as dist  # noqa: E402


def is_dist_avail_and_initialized():
    return dist.is_available() and dist.is_initialized()


def get_world_size():
    return dist.get_world_size() if is_dist_avail_and_initialized() else 1


def all_reduce_mean(x):
    if get_world_size() == 1:
        return x
    t = torch.tensor(x).cuda()
    dist.all_reduce(t)
    return (t / get_world_size()).item()


class SmoothedValue:
    """The last value and the running average of a logged number."""

    def __init__(self, window_size=20, fmt=None):
        self.fmt = fmt or "{median:.4f} ({global_avg:.4f})"
        self.values, self.total, self.count = [], 0.0, 0

    def update(self, value, n=1):
        self.values.append(value)
        self.count += n
        self.total += value * n

    def synchronize_between_processes(self):
        pass

    @property
    def global_avg(self):
        return self.total / max(self.count, 1)

    def __str__(self):
        last = self.values[-1] if self.values else 0.0
        return self.fmt.format(median=last, avg=last, global_avg=self.global_avg, max=last, value=last)


class MetricLogger:
    def __init__(self, delimiter="\t"):
        self.meters, self.delimiter = {}, delimiter

    def add_meter(self, name, meter):
        self.meters[name] = meter

    def update(self, **kwargs):
        for k, v in kwargs.items():
            v = v.item() if isinstance(v, torch.Tensor) else v
            self.meters.setdefault(k, SmoothedValue()).update(v)

    def synchronize_between_processes(self):
        for meter in self.meters.values():
            meter.synchronize_between_processes()

    def __str__(self):
        return self.delimiter.join("{}: {}".format(k, m) for k, m in self.meters.items())

    def log_every(self, iterable, print_freq, header=None):
        for i, obj in enumerate(iterable):
            yield obj
            if i % print_freq == 0 or i == len(iterable) - 1:
                print("{} [{}/{}] {}".format(header or "", i, len(iterable), self))


class NativeScalerWithGradNormCount:
    state_dict_key = "amp_scaler"

    def __init__(self):
        self._scaler = torch.cuda.amp.GradScaler()

    def __call__(self, loss, optimizer, clip_grad=None, parameters=None, create_graph=False, update_grad=True):
        self._scaler.scale(loss).backward(create_graph=create_graph)
        if not update_grad:
            return None
        self._scaler.unscale_(optimizer)
        if clip_grad is not None:
            norm = torch.nn.utils.clip_grad_norm_(parameters, clip_grad)
        else:
            norm = get_grad_norm_(parameters)
        self._scaler.step(optimizer)
        self._scaler.update()
        return norm


def get_grad_norm_(parameters, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return total_norm([p for p in parameters if p.grad is not None], float(norm_type))

# Test fixture for mae-inspect: a stand-in for the official util/lr_sched.py (same name, signature and
# arithmetic, written for these tests): warm-up, then half-cycle cosine, per group times its lr_scale.
import math


def adjust_learning_rate(optimizer, epoch, args):
    """Set every group's lr for the (fractional) epoch; returns the unscaled lr."""
    if epoch < args.warmup_epochs:
        lr = args.lr * epoch / args.warmup_epochs
    else:
        progress = math.pi * (epoch - args.warmup_epochs) / (args.epochs - args.warmup_epochs)
        lr = args.min_lr + (args.lr - args.min_lr) * 0.5 * (1. + math.cos(progress))
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
    return lr

# Test fixture for mae-inspect: a stand-in for the official util/lr_decay.py (layer-wise lr decay after
# BEiT; same names, signatures and grouping, written for these tests).


def param_groups_lrd(model, weight_decay=0.05, no_weight_decay_list=(), layer_decay=.75):
    """One group per (layer id, decay / no decay), lr_scale = layer_decay ** (num_layers - layer id)."""
    num_layers = len(model.blocks) + 1
    scales = [layer_decay ** (num_layers - i) for i in range(num_layers + 1)]
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decayed = not (param.ndim == 1 or name in no_weight_decay_list)
        layer = get_layer_id_for_vit(name, num_layers)
        key = "layer_%d_%s" % (layer, "decay" if decayed else "no_decay")
        if key not in groups:
            groups[key] = {"lr_scale": scales[layer], "weight_decay": weight_decay if decayed else 0.,
                           "params": []}
        groups[key]["params"].append(param)
    return list(groups.values())


def get_layer_id_for_vit(name, num_layers):
    """cls_token, pos_embed, patch_embed: 0; blocks.i: i + 1; anything else: num_layers."""
    if name in ("cls_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks"):
        return int(name.split(".")[1]) + 1
    return num_layers

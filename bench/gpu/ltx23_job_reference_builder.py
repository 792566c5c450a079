"""The in-memory model builder of bench/gpu/ltx23_job_reference.py: ltx-core's
SingleGPUModelBuilder.build replaced by one that does what it does (meta model from the configurator,
module ops, `assign` load, .to(device)) with random tensors drawn on the device instead of the
checkpoint's (dtype: the build's, else the published file's: F32 for *scale_shift_table*, BF16
otherwise; fp8-retyped Linears stay fp8). Every build is timed into `Builds` (the job's time
subtracts it). Split from ltx23_job_reference.py: that file runs the jobs, this one makes weights.
"""
import math
import time

import torch


class Builds:
    seconds = 0.0
    count = 0
    last_bytes = 0


CASTABLE = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def published_dtype(name):
    return torch.float32 if "scale_shift_table" in name else torch.bfloat16


def random_param(name, p, device, dtype):
    want = p.dtype if p.dtype not in CASTABLE else (dtype or published_dtype(name))
    gen_dtype = want if want in CASTABLE else torch.bfloat16
    shape = tuple(p.shape)
    last = name.rsplit(".", 1)[-1]
    if "bias" in last:
        t = torch.zeros(shape, dtype=gen_dtype, device=device)
    elif len(shape) <= 1:
        t = (torch.ones if last == "weight" or len(shape) == 0 else torch.zeros)(shape, dtype=gen_dtype, device=device)
    else:
        fan_in = max(1, p.numel() // shape[0])
        t = torch.empty(shape, dtype=gen_dtype, device=device).normal_(0.0, 1.0 / math.sqrt(fan_in))
    return t if t.dtype == want else t.to(want)


def random_buffer(name, b, device, dtype):
    if not b.dtype.is_floating_point:
        return torch.zeros(tuple(b.shape), dtype=b.dtype, device=device)
    want = dtype or torch.bfloat16
    fill = torch.ones if "std" in name else torch.zeros
    return fill(tuple(b.shape), dtype=want, device=device)


def value_ops(sd_ops, key, value):
    if sd_ops is None:
        return value
    try:
        for r in sd_ops.apply_to_key_value(key, value):
            if r.new_key == key:
                return r.new_value
    except Exception:  # noqa: BLE001
        pass
    return value


def fill_random(model, device, dtype, sd_ops, note):
    persistent = set(model.state_dict().keys())
    sd, made = {}, {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if p.device.type != "meta":
            continue
        if id(p) not in made:
            made[id(p)] = value_ops(sd_ops, name, random_param(name, p, device, dtype))
        sd[name] = made[id(p)]
    for name, b in model.named_buffers(remove_duplicate=False):
        if b.device.type == "meta" and name in persistent:
            sd[name] = random_buffer(name, b, device, dtype)
    model.load_state_dict(sd, strict=False, assign=True)
    # Anything still on meta (a non-persistent buffer no module op populated) would stop .to():
    # zeros, reported once.
    for name, b in list(model.named_buffers()):
        if b.device.type == "meta":
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            parent.register_buffer(attr, torch.zeros(tuple(b.shape), dtype=b.dtype, device=device), persistent=False)
            note(f"  buffer {name} was left on meta: zeros")


def install_memory_builder(helpers_mod, builder_cls, note):
    """SingleGPUModelBuilder.build with random tensors instead of the checkpoint's; `note(msg)` logs."""

    def build(self, device=None, dtype=None, **kwargs):  # noqa: ARG001
        device = torch.device("cuda") if device is None else device
        torch.cuda.synchronize()
        t0, a0 = time.perf_counter(), torch.cuda.memory_allocated()
        metadata = self.model_metadata()
        model = helpers_mod.create_meta_model(self._model_class_configurator, metadata, self._module_ops)
        with torch.no_grad():
            fill_random(model, device, dtype, self._model_sd_ops, note)
        model = model.to(device)
        torch.cuda.synchronize()
        Builds.seconds += time.perf_counter() - t0
        Builds.count += 1
        Builds.last_bytes = torch.cuda.memory_allocated() - a0
        return model

    builder_cls.build = build

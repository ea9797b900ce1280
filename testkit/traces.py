"""Files that carry generator traces outside C2PA, made at run time with Pillow, and the negatives.

Each mimics the field layout its generator writes, as the public prompt readers parse it (sources in
docs/labels.md, "Generator traces"): the chunk or tag, its encoding, and the text's shape. The pixels are a small
gradient; no third-party file is copied.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from testkit.media import _image

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
_TAGS = {"ImageDescription": 0x010E, "Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "Artist": 0x013B}


@dataclass(frozen=True)
class TraceSample:
    name: str
    data: bytes
    label: str
    """Expected label: ``ai_generated``, ``ai_edited``, or ``unknown`` for a negative."""
    generator: str | None = None
    label_source: str | None = None


def png(
    text: dict[str, str] | None = None, *, xmp: str | None = None, exif: bytes | None = None, seed: int = 0
) -> bytes:
    """A PNG with tEXt chunks (iTXt for non-Latin-1 text, as Pillow and the generators' Pillow code write them)."""
    info = PngInfo()
    for key, value in (text or {}).items():
        try:
            value.encode("latin-1")
            info.add_text(key, value)
        except UnicodeEncodeError:
            info.add_itxt(key, value)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    buffer = io.BytesIO()
    extra: dict[str, Any] = {"exif": exif} if exif is not None else {}
    _image(32, 24, seed).save(buffer, "PNG", pnginfo=info, **extra)
    return buffer.getvalue()


def exif_bytes(user_comment: str | None = None, *, charset: str = "UNICODE", **tags: str) -> bytes:
    """EXIF as piexif writes it for AUTOMATIC1111 (``UserComment``: ``UNICODE\\0`` + UTF-16 big-endian), or a camera."""
    exif = Image.Exif()
    for name, value in tags.items():
        exif[_TAGS[name]] = value
    if user_comment is not None:
        if charset == "UNICODE":
            encoded = b"UNICODE\0" + user_comment.encode("utf-16-be")
        else:
            encoded = b"ASCII\0\0\0" + user_comment.encode("ascii")
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = encoded
    return exif.tobytes()


def image(fmt: str, *, exif: bytes | None = None, xmp: str | None = None, seed: int = 0) -> bytes:
    """A JPEG or WebP with the given EXIF block and XMP packet."""
    buffer = io.BytesIO()
    extra: dict[str, Any] = {}
    if exif is not None:
        extra["exif"] = exif
    if xmp is not None:
        extra["xmp"] = xmp.encode()
    _image(32, 24, seed).save(buffer, fmt, **extra)
    return buffer.getvalue()


def with_iptc(jpeg: bytes, **datasets: str) -> bytes:
    """``jpeg`` with an APP13 Photoshop block holding IPTC-IIM record-2 datasets (``Credit``, ``By_line``), as
    photo tools and Google write it: "Photoshop 3.0", an 8BIM resource 0x0404, then ``1C 02 <dataset> <length>``."""
    numbers = {"Credit": 110, "By_line": 80, "Source": 115, "Caption": 120}
    iim = b"".join(
        b"\x1c\x02" + bytes([numbers[name]]) + len(value.encode()).to_bytes(2, "big") + value.encode()
        for name, value in datasets.items()
    )
    resource = b"8BIM\x04\x04\x00\x00" + len(iim).to_bytes(4, "big") + iim + (b"\x00" if len(iim) % 2 else b"")
    body = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + (len(body) + 2).to_bytes(2, "big") + body
    return jpeg[:2] + segment + jpeg[2:]


def xmp_packet(**properties: str) -> str:
    """An XMP packet with simple properties given as ``prefix_Name="value"`` (xmp, photoshop, exif, dc, tiff)."""
    namespaces = {
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "exif": "http://ns.adobe.com/exif/1.0/",
        "tiff": "http://ns.adobe.com/tiff/1.0/",
    }
    elements = []
    for key, value in properties.items():
        prefix, name = key.split("_", 1)
        if prefix == "dc":
            elements.append(f'<dc:{name}><rdf:Alt><rdf:li xml:lang="x-default">{value}</rdf:li></rdf:Alt></dc:{name}>')
        else:
            elements.append(f"<{prefix}:{name}>{value}</{prefix}:{name}>")
    declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in namespaces.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {declarations} xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'{"".join(elements)}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


A1111 = "AUTOMATIC1111 Stable Diffusion web UI"
FORGE = "Stable Diffusion WebUI Forge"
_PROMPT = "a lighthouse on a cliff at dusk, oil painting\nNegative prompt: blurry, lowres\n"
_TXT2IMG = (
    _PROMPT + "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 3141592653, Size: 512x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)
_HIRES = (
    _PROMPT + "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, "
    "Model: v1-5-pruned-emaonly, Denoising strength: 0.7, Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, "
    "Version: v1.10.1"
)
_IMG2IMG = (
    _PROMPT + "Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 512x512, Model hash: 6ce0161689, "
    "Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Version: v1.10.1"
)
_INPAINT = (
    _PROMPT + "Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 512x512, Model hash: 6ce0161689, "
    "Model: sd-v1-5-inpainting, Denoising strength: 0.75, Mask blur: 4, Inpaint area: Only masked, Version: v1.10.1"
)
_FORGE = (
    _PROMPT + "Steps: 25, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 9, "
    "Size: 896x1152, Model hash: 275ef623d3, Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1-previous-313-g8a042934"
)
_COMFY_PROMPT = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}, "class_type": "CheckpointLoaderSimple"},
    "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1}, "class_type": "EmptyLatentImage"},
    "6": {"inputs": {"text": "a lighthouse", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
}
_COMFY_INPAINT = {
    **_COMFY_PROMPT,
    "10": {"inputs": {"image": "photo.png", "upload": "image"}, "class_type": "LoadImage"},
    "11": {
        "inputs": {"grow_mask_by": 6, "pixels": ["10", 0], "vae": ["4", 2], "mask": ["10", 1]},
        "class_type": "VAEEncodeForInpaint",
    },
}
_KSAMPLER_INPUTS: dict[str, Any] = dict(_COMFY_PROMPT["3"]["inputs"])  # type: ignore[arg-type]


def _ksampler(**inputs: Any) -> dict[str, Any]:
    """The txt2img graph's KSampler node with ``inputs`` changed."""
    return {"inputs": {**_KSAMPLER_INPUTS, **inputs}, "class_type": "KSampler", "_meta": {"title": "KSampler"}}


_COMFY_IMG2IMG: dict[str, Any] = {
    # ComfyUI's img2img example: LoadImage -> VAEEncode -> KSampler's latent_image, denoise below 1.
    **_COMFY_PROMPT,
    "3": _ksampler(denoise=0.8700000000000001, latent_image=["12", 0]),
    "10": {"inputs": {"image": "example.png", "upload": "image"}, "class_type": "LoadImage"},
    "12": {"inputs": {"pixels": ["10", 0], "vae": ["4", 2]}, "class_type": "VAEEncode"},
}
_COMFY_HIRES: dict[str, Any] = {
    # A two-pass txt2img ("hires fix"): the first pass decoded, upscaled, encoded again and sampled at denoise 0.5.
    # No LoadImage: no existing image goes in, so it stays ai_generated.
    **_COMFY_PROMPT,
    "13": {
        "inputs": {"upscale_method": "nearest-exact", "scale_by": 2, "image": ["8", 0]},
        "class_type": "ImageScaleBy",
    },
    "14": {"inputs": {"pixels": ["13", 0], "vae": ["4", 2]}, "class_type": "VAEEncode"},
    "15": _ksampler(denoise=0.5, latent_image=["14", 0]),
}
_COMFY_WORKFLOW = {
    "last_node_id": 9,
    "last_link_id": 9,
    "nodes": [{"id": 3, "type": "KSampler", "pos": [863, 186], "size": [315, 262], "flags": {}, "order": 4}],
    "links": [[1, 4, 0, 3, 0, "MODEL"]],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}
_INVOKE = {
    "generation_mode": "txt2img",
    "positive_prompt": "a lighthouse",
    "negative_prompt": "",
    "width": 512,
    "height": 512,
    "seed": 1,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "steps": 30,
    "scheduler": "euler",
    "model": {"key": "a3c6", "hash": "blake3:e3b0", "name": "stable-diffusion-v1-5", "base": "sd-1", "type": "main"},
    "app_version": "4.2.9",
}
_INVOKE2 = {
    "model": "stable diffusion",
    "model_weights": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103",
    "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.5",
    "image": {
        "prompt": [{"prompt": "a lighthouse", "weight": 1.0}],
        "steps": 50,
        "cfg_scale": 7.5,
        "threshold": 0,
        "perlin": 0,
        "height": 512,
        "width": 512,
        "seed": 1,
        "seamless": False,
        "hires_fix": False,
        "type": "txt2img",
        "postprocessing": None,
        "sampler": "k_lms",
        "variations": [],
    },
}
_NOVELAI_COMMENT = {
    "prompt": "1girl, lighthouse, dusk",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "uncond_scale": 1.0,
    "cfg_rescale": 0.0,
    "seed": 1234567890,
    "n_samples": 1,
    "noise_schedule": "native",
    "sampler": "k_euler_ancestral",
    "uc": "lowres",
    "request_type": "PromptGenerateRequest",
}
_SWARM_PARAMS: dict[str, object] = {
    "prompt": "a lighthouse",
    "model": "OfficialStableDiffusion/sd_xl_base_1.0",
    "seed": 1,
    "steps": 20,
    "cfgscale": 7.0,
    "aspectratio": "1:1",
    "width": 1024,
    "height": 1024,
    "swarm_version": "0.9.2.1",
    "date": "2024-08-01",
}
_SWARM = {
    "sui_image_params": _SWARM_PARAMS,
    "sui_extra_data": {"date": "2024-08-01", "prep_time": "0.01 sec", "generation_time": "4.20 sec"},
}
_SWARM_INIT = {"sui_image_params": {**_SWARM_PARAMS, "initimagecreativity": 0.6}}
_FOOOCUS = {
    "Prompt": "a lighthouse",
    "Negative Prompt": "",
    "Styles": "['Fooocus V2', 'Fooocus Enhance']",
    "Performance": "Speed",
    "Resolution": "(1152, 896)",
    "Sharpness": 2,
    "Guidance Scale": 4,
    "Base Model": "juggernautXL_v8Rundiffusion.safetensors",
    "Sampler": "dpmpp_2m_sde_gpu",
    "Scheduler": "karras",
    "Seed": "12345",
    "Version": "Fooocus v2.5.5",
}
_DRAW_THINGS_SETTINGS = '{"c":"a lighthouse","model":"sd_xl_base_1.0_f16.ckpt","sampler":"DPM++ 2M Karras","seed":1}'


def trace_samples() -> list[TraceSample]:
    """The positives (one per generator and layout) and the negatives (cameras, editors, screenshot tools)."""
    comfy = {"prompt": json.dumps(_COMFY_PROMPT), "workflow": json.dumps(_COMFY_WORKFLOW)}
    ai = [
        TraceSample("a1111-txt2img.png", png({"parameters": _TXT2IMG}), "ai_generated", A1111, "png-text"),
        TraceSample("a1111-hires.png", png({"parameters": _HIRES}), "ai_generated", A1111, "png-text"),
        TraceSample("a1111-img2img.png", png({"parameters": _IMG2IMG}), "ai_edited", A1111, "png-text"),
        TraceSample("a1111-inpaint.png", png({"parameters": _INPAINT}), "ai_edited", A1111, "png-text"),
        TraceSample("a1111-unicode.png", png({"parameters": "灯台\n" + _TXT2IMG}), "ai_generated", A1111, "png-text"),
        TraceSample("a1111.jpg", image("JPEG", exif=exif_bytes(_TXT2IMG)), "ai_generated", A1111, "exif"),
        TraceSample("a1111-img2img.webp", image("WEBP", exif=exif_bytes(_IMG2IMG)), "ai_edited", A1111, "exif"),
        TraceSample("forge.png", png({"parameters": _FORGE}), "ai_generated", FORGE, "png-text"),
        TraceSample("forge.jpg", image("JPEG", exif=exif_bytes(_FORGE)), "ai_generated", FORGE, "exif"),
        TraceSample("comfyui.png", png(comfy), "ai_generated", "ComfyUI", "png-text"),
        TraceSample(
            "comfyui-workflow-only.png", png({"workflow": comfy["workflow"]}), "ai_generated", "ComfyUI", "png-text"
        ),
        TraceSample(
            "comfyui-inpaint.png",
            png({**comfy, "prompt": json.dumps(_COMFY_INPAINT)}),
            "ai_edited",
            "ComfyUI",
            "png-text",
        ),
        TraceSample(
            "comfyui-img2img.png",
            png({**comfy, "prompt": json.dumps(_COMFY_IMG2IMG)}),
            "ai_edited",
            "ComfyUI",
            "png-text",
        ),
        TraceSample(
            "comfyui-hires-fix.png",
            png({**comfy, "prompt": json.dumps(_COMFY_HIRES)}),
            "ai_generated",
            "ComfyUI",
            "png-text",
        ),
        TraceSample(
            "comfyui-img2img-full-denoise.png",
            png(
                {
                    **comfy,
                    "prompt": json.dumps(
                        {
                            **_COMFY_IMG2IMG,
                            "3": _ksampler(denoise=1.0, latent_image=["12", 0]),
                        }
                    ),
                }
            ),
            "ai_generated",
            "ComfyUI",
            "png-text",
        ),
        TraceSample(
            "invokeai.png",
            png({"invokeai_metadata": json.dumps(_INVOKE), "invokeai_graph": '{"id": "g", "nodes": {}}'}),
            "ai_generated",
            "InvokeAI",
            "png-text",
        ),
        TraceSample(
            "invokeai-img2img.png",
            png({"invokeai_metadata": json.dumps({**_INVOKE, "generation_mode": "sdxl_img2img", "strength": 0.6})}),
            "ai_edited",
            "InvokeAI",
            "png-text",
        ),
        TraceSample(
            "invokeai2.png",
            png(
                {
                    "Dream": '"a lighthouse" -s 50 -S 1 -W 512 -H 512 -C 7.5 -A k_lms',
                    "sd-metadata": json.dumps(_INVOKE2),
                }
            ),
            "ai_generated",
            "InvokeAI",
            "png-text",
        ),
        TraceSample(
            "novelai.png",
            png(
                {
                    "Title": "AI generated image",
                    "Description": "1girl, lighthouse, dusk",
                    "Software": "NovelAI",
                    "Source": "NovelAI Diffusion V4.5 4BDE2A90",
                    "Generation time": "6.5",
                    "Comment": json.dumps(_NOVELAI_COMMENT),
                }
            ),
            "ai_generated",
            "NovelAI",
            "png-text",
        ),
        TraceSample(
            "novelai.webp",
            image("WEBP", exif=exif_bytes(json.dumps(_NOVELAI_COMMENT), Software="NovelAI")),
            "ai_generated",
            "NovelAI",
            "exif",
        ),
        TraceSample(
            "swarmui.png", png({"parameters": json.dumps(_SWARM, indent=2)}), "ai_generated", "SwarmUI", "png-text"
        ),
        TraceSample(
            "swarmui-init-image.png",
            png({"parameters": json.dumps(_SWARM_INIT, indent=2)}),
            "ai_edited",
            "SwarmUI",
            "png-text",
        ),
        TraceSample(
            "swarmui.jpg",
            image("JPEG", exif=exif_bytes(json.dumps(_SWARM, indent=2))),
            "ai_generated",
            "SwarmUI",
            "exif",
        ),
        TraceSample(
            "fooocus.png",
            png({"parameters": json.dumps(_FOOOCUS), "fooocus_scheme": "fooocus"}),
            "ai_generated",
            "Fooocus",
            "png-text",
        ),
        TraceSample(
            "fooocus-a1111-scheme.png",
            png(
                {
                    "parameters": _TXT2IMG.replace("Version: v1.10.1", "Version: Fooocus v2.5.5"),
                    "fooocus_scheme": "a1111",
                }
            ),
            "ai_generated",
            "Fooocus",
            "png-text",
        ),
        TraceSample(
            "easy-diffusion.png",
            png(
                {
                    "prompt": "a lighthouse",
                    "seed": "42",
                    "use_stable_diffusion_model": "sd-v1-4",
                    "sampler_name": "euler_a",
                    "num_inference_steps": "25",
                    "guidance_scale": "7.5",
                }
            ),
            "ai_generated",
            "Easy Diffusion",
            "png-text",
        ),
        TraceSample(
            "draw-things.png",
            png(
                xmp=xmp_packet(
                    xmp_CreatorTool="Draw Things", exif_UserComment=_DRAW_THINGS_SETTINGS, dc_description="a lighthouse"
                )
            ),
            "ai_generated",
            "Draw Things",
            "xmp",
        ),
        TraceSample(
            "gemini.jpg",
            image("JPEG", xmp=xmp_packet(photoshop_Credit="Made with Google AI")),
            "ai_generated",
            "Google AI",
            "xmp",
        ),
        TraceSample(
            "magic-editor.jpg",
            image("JPEG", xmp=xmp_packet(photoshop_Credit="Edited with Google AI")),
            "ai_edited",
            "Google AI",
            "xmp",
        ),
        TraceSample(
            "gemini-iptc.jpg",
            with_iptc(image("JPEG"), Credit="Made with Google AI"),
            "ai_generated",
            "Google AI",
            "iptc",
        ),
        TraceSample(
            "magic-editor-iptc.jpg",
            with_iptc(image("JPEG"), Credit="Edited with Google AI"),
            "ai_edited",
            "Google AI",
            "iptc",
        ),
    ]
    camera = exif_bytes(None, Make="Canon", Model="Canon EOS R5", Software="Firmware Version 1.8.1")
    human = [
        TraceSample("camera.jpg", image("JPEG", exif=camera), "unknown"),
        TraceSample(
            "camera-user-comment.jpg",
            image(
                "JPEG",
                exif=exif_bytes("", charset="ASCII", Make="NIKON CORPORATION", Model="NIKON Z 6", Software="Ver.01.10"),
            ),
            "unknown",
        ),
        TraceSample(
            "iphone.jpg",
            image("JPEG", exif=exif_bytes(None, Make="Apple", Model="iPhone 15 Pro", Software="17.1.2")),
            "unknown",
        ),
        TraceSample(
            "photoshop.jpg",
            image(
                "JPEG",
                exif=exif_bytes(None, Software="Adobe Photoshop 25.0 (Windows)"),
                xmp=xmp_packet(xmp_CreatorTool="Adobe Photoshop 25.0 (Windows)"),
            ),
            "unknown",
        ),
        TraceSample(
            "lightroom.jpg",
            image(
                "JPEG",
                exif=exif_bytes(
                    None, Make="SONY", Model="ILCE-7M4", Software="Adobe Photoshop Lightroom Classic 13.0 (Windows)"
                ),
                xmp=xmp_packet(xmp_CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Windows)"),
            ),
            "unknown",
        ),
        TraceSample(
            "gimp.png",
            png(
                {"Comment": "Created with GIMP", "Software": "GIMP 2.10.34"},
                xmp=xmp_packet(xmp_CreatorTool="GIMP 2.10"),
            ),
            "unknown",
        ),
        TraceSample("snapseed.jpg", image("JPEG", exif=exif_bytes(None, Software="Snapseed 2.0")), "unknown"),
        TraceSample(
            "gnome-screenshot.png", png({"Software": "gnome-screenshot", "Creation Time": "Wed 02 Dec 2026"}), "unknown"
        ),
        TraceSample("macos-screenshot.png", png(xmp=xmp_packet(exif_UserComment="Screenshot")), "unknown"),
        TraceSample("comfyui-animated.webp", comfyui_animated_webp(), "ai_generated", "ComfyUI", "exif"),
        TraceSample("sharex.png", png({"Software": "ShareX"}), "unknown"),
        TraceSample(
            "prompt-quoted-in-caption.png",
            png({"Description": _TXT2IMG, "Comment": json.dumps(_COMFY_PROMPT), "Title": "Made with Google AI"}),
            "unknown",
        ),
        TraceSample(
            "prompt-quoted-in-exif-description.jpg",
            image(
                "JPEG",
                exif=exif_bytes(None, ImageDescription=_TXT2IMG, Artist="NovelAI"),
                xmp=xmp_packet(dc_description="Made with Google AI", xmp_CreatorTool="Adobe Photoshop 25.0"),
            ),
            "unknown",
        ),
        TraceSample(
            "news-photo-iptc.jpg",
            with_iptc(image("JPEG", exif=camera), Credit="Reuters", By_line="Jane Doe", Caption="Made with Google AI?"),
            "unknown",
        ),
        TraceSample("plain-parameters.png", png({"parameters": "exposure=+1.0, contrast=12"}), "unknown"),
        TraceSample(
            "novelai-fan-art.png", png({"Software": "Krita", "Comment": "fan art of a NovelAI character"}), "unknown"
        ),
    ]
    return ai + human


def container(fmt: str, tags: dict[str, str], *, audio: bool = False) -> bytes:
    """A tiny video (WebM VP9, MP4/MOV MPEG-4) or audio file (MP3, WAV) made with PyAV, with container tags as
    ComfyUI's SaveWEBM / SaveVideo write them (``container.metadata[...]``; MP4 with ``movflags=use_metadata_tags``)."""
    import tempfile
    from pathlib import Path

    import av
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        options = {"movflags": "use_metadata_tags"} if fmt in ("mp4", "mov") else {}
        with av.open(str(path), "w", format=fmt, options=options) as out:
            for key, value in tags.items():
                out.metadata[key] = value
            if audio:
                sound = out.add_stream("pcm_s16le" if fmt == "wav" else "libmp3lame", rate=16000)
                sound.layout = "mono"
                samples = np.zeros((1, 1152), dtype=np.int16 if fmt == "wav" else np.float32)
                frame = av.AudioFrame.from_ndarray(samples, format="s16" if fmt == "wav" else "fltp", layout="mono")
                frame.sample_rate = 16000
                for item in (frame, None):
                    for packet in sound.encode(item):
                        out.mux(packet)
            else:
                video = out.add_stream("libvpx-vp9" if fmt == "webm" else "mpeg4", rate=10)
                video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
                picture = av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), dtype=np.uint8), format="rgb24")
                for still in (picture, picture, picture, None):
                    for packet in video.encode(still):
                        out.mux(packet)
        return path.read_bytes()


XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
"""The XMP specification's ``uuid`` box user type for an XMP packet in ISO BMFF (MP4, MOV)."""


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def with_xmp_uuid(mp4: bytes, xmp: str) -> bytes:
    """``mp4`` with a top-level ``uuid`` XMP box appended after its last box, as Adobe's tools write one (nothing
    before it moves, so the chunk offsets stay right)."""
    return mp4 + _box(b"uuid", XMP_UUID + xmp.encode())


def with_udta_xmp(mov: bytes, xmp: str) -> bytes:
    """``mov`` with QuickTime's ``moov/udta/XMP_`` box: a ``udta`` appended to the ``moov`` box, whose size grows
    (FFmpeg writes ``moov`` after ``mdat``, so no chunk offset moves)."""
    offset = 0
    while offset + 8 <= len(mov):
        size, kind = int.from_bytes(mov[offset : offset + 4], "big"), mov[offset + 4 : offset + 8]
        if kind == b"moov":
            udta = _box(b"udta", _box(b"XMP_", xmp.encode()))
            end = offset + size
            moov = (size + len(udta)).to_bytes(4, "big") + b"moov" + mov[offset + 8 : end] + udta
            return mov[:offset] + moov + mov[end:]
        offset += size
    raise ValueError("no moov box")


def container_trace_samples() -> list[TraceSample]:
    """Video and audio: ComfyUI's graphs as container tags, and containers whose tags name no generator."""
    comfy = {"prompt": json.dumps(_COMFY_PROMPT), "workflow": json.dumps(_COMFY_WORKFLOW)}
    meta = "container-metadata"
    return [
        TraceSample("comfyui.webm", container("webm", comfy), "ai_generated", "ComfyUI", meta),
        TraceSample("comfyui.mp4", container("mp4", comfy), "ai_generated", "ComfyUI", meta),
        TraceSample(
            "comfyui-workflow.mov", container("mov", {"workflow": comfy["workflow"]}), "ai_generated", "ComfyUI", meta
        ),
        TraceSample("comfyui.mp3", container("mp3", comfy, audio=True), "ai_generated", "ComfyUI", meta),
        TraceSample(
            "google-ai-xmp-uuid.mp4",
            with_xmp_uuid(container("mp4", {}), xmp_packet(photoshop_Credit="Made with Google AI")),
            "ai_generated",
            "Google AI",
            "xmp",
        ),
        TraceSample(
            "google-ai-xmp-udta.mov",
            with_udta_xmp(container("mov", {}), xmp_packet(photoshop_Credit="Edited with Google AI")),
            "ai_edited",
            "Google AI",
            "xmp",
        ),
        TraceSample(
            "camera.mov",
            container(
                "mov",
                {
                    "com.apple.quicktime.make": "Apple",
                    "com.apple.quicktime.model": "iPhone 15 Pro",
                    "com.apple.quicktime.software": "17.1.2",
                },
            ),
            "unknown",
        ),
        TraceSample(
            "premiere-xmp-uuid.mp4",
            with_xmp_uuid(
                container("mp4", {}),
                xmp_packet(xmp_CreatorTool="Adobe Premiere Pro 2024.0 (Windows)", dc_description="Made with Google AI"),
            ),
            "unknown",
        ),
        TraceSample(
            "edited.mp4",
            container("mp4", {"encoder": "Lavf60.3.100", "title": "holiday", "comment": _TXT2IMG}),
            "unknown",
        ),
        TraceSample(
            "podcast.mp3",
            container("mp3", {"artist": "Jane Doe", "comment": json.dumps(_COMFY_PROMPT)}, audio=True),
            "unknown",
        ),
        TraceSample(
            "voice-memo.wav",
            container("wav", {"comment": "Made with Google AI", "encoder": "Audacity"}, audio=True),
            "unknown",
        ),
    ]


def comfyui_animated_webp() -> bytes:
    """ComfyUI's SaveAnimatedWEBP: EXIF Model ``prompt:{...}`` and Make ``workflow:{...}``."""
    exif = Image.Exif()
    exif[_TAGS["Model"]] = "prompt:" + json.dumps(_COMFY_PROMPT)
    exif[_TAGS["Make"]] = "workflow:" + json.dumps(_COMFY_WORKFLOW)
    return image("WEBP", exif=exif.tobytes())

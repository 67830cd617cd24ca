"""Tiny random-weight diffusers pipelines built from configs in code, with no files or network.

They run a 64 px, 2-step edit in well under a second on one CPU thread. Random weights give
noise: they test the plumbing, not the quality.
"""
from __future__ import annotations

import string

#: Small enough that the tokenizer, text encoders and models agree on one vocabulary size.
VOCAB_SIZE = 1000


def clip_tokenizer():
    """A CLIP BPE tokenizer over letters and digits, built in memory."""
    from transformers import CLIPTokenizer

    chars = string.ascii_lowercase + string.digits
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in chars:
            vocab[ch + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer():
    """A T5 unigram tokenizer over letters and digits, built in memory."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(ch, -2.0) for ch in string.ascii_letters + string.digits]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def clip_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=VOCAB_SIZE, projection_dim=32,
    )
    return CLIPTextModel(config).eval()


def sd_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1, sample_size=64,
    )


def sd_unet(in_channels: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32,
        in_channels=in_channels, out_channels=4, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )


def _sd_components(in_channels: int) -> dict:
    import torch
    from diffusers import DDIMScheduler

    torch.manual_seed(0)
    return {
        "unet": sd_unet(in_channels),
        "vae": sd_vae(),
        "text_encoder": clip_text_encoder(),
        "tokenizer": clip_tokenizer(),
        "scheduler": DDIMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        ),
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def tiny_instruct_pix2pix():
    """A ``StableDiffusionInstructPix2PixPipeline`` (UNet on 4 noise + 4 image channels)."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    return StableDiffusionInstructPix2PixPipeline(**_sd_components(8))


def tiny_inpaint():
    """A ``StableDiffusionInpaintPipeline`` (UNet on 4 noise + 1 mask + 4 masked-image channels)."""
    from diffusers import StableDiffusionInpaintPipeline

    return StableDiffusionInpaintPipeline(**_sd_components(9))


def tiny_flux_kontext():
    """A ``FluxKontextPipeline`` with a one-block transformer and a one-channel VAE."""
    import torch
    from diffusers import (
        AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    text_encoder_2 = T5EncoderModel(T5Config(
        vocab_size=VOCAB_SIZE, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )).eval()
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,),
        layers_per_block=1, latent_channels=1, norm_num_groups=1, use_quant_conv=False,
        use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )
    return FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=clip_text_encoder(),
        text_encoder_2=text_encoder_2,
        tokenizer=clip_tokenizer(),
        tokenizer_2=t5_tokenizer(),
        transformer=transformer,
        vae=vae,
        image_encoder=None,
        feature_extractor=None,
    )

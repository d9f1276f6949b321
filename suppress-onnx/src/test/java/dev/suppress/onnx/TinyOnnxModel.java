package dev.suppress.onnx;

import dev.suppress.core.backend.Device;
import dev.suppress.core.testing.Fixtures;

import java.nio.file.Path;

/** The tiny SD export of the fixtures ({@code tiny-sd-onnx}, MANIFEST.md) and its parts on the CPU. */
final class TinyOnnxModel {

    private TinyOnnxModel() {
    }

    static Path folder() {
        return Fixtures.path("tiny-sd-onnx");
    }

    static OrtModelFolder modelFolder() {
        return OrtModelFolder.of(folder());
    }

    static OrtTextEncoder textEncoder() {
        return new OrtTextEncoder(OrtModelSession.open(OrtTextEncoder.COMPONENT,
                modelFolder().model(OrtTextEncoder.COMPONENT), Device.CPU, false));
    }

    static OrtDenoiser denoiser(AttentionAggregation aggregation) {
        return OrtDenoiser.open(modelFolder(), Device.CPU, false, aggregation);
    }

    static OrtLatentDecoder decoder() {
        OrtModelFolder folder = modelFolder();
        return new OrtLatentDecoder(OrtModelSession.open(OrtLatentDecoder.COMPONENT,
                folder.model(OrtLatentDecoder.COMPONENT), Device.CPU, false), folder.vaeScalingFactor());
    }

    static OrtLatentEncoder encoder() {
        return OrtLatentEncoder.open(modelFolder(), Device.CPU, false);
    }
}

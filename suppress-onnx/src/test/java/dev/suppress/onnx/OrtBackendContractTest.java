package dev.suppress.onnx;

import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.testing.DiffusionBackendContract;
import dev.suppress.core.testing.Fixtures;

/** The seam contract on the ONNX export of the tiny model. */
class OrtBackendContractTest extends DiffusionBackendContract {

    @Override
    protected DiffusionBackend openBackend() {
        return OrtDiffusionBackend.open(BackendOptions.cpu(Fixtures.path("tiny-sd-onnx")));
    }
}

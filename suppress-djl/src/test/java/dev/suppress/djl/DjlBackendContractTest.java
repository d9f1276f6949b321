package dev.suppress.djl;

import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.testing.DiffusionBackendContract;
import dev.suppress.core.testing.Fixtures;

/** The seam contract on the tiny diffusers model. */
class DjlBackendContractTest extends DiffusionBackendContract {

    @Override
    protected DiffusionBackend openBackend() {
        return DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel()));
    }
}

package dev.suppress.djl.unet;

import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Numbers the attention layers while the UNet is built. Modules are built in forward order, so the index of a
 * layer in {@link #layers()} is its position in a forward pass, and its {@link AttentionLayerId#order()} counts
 * earlier layers of the same place and kind, as the reference's {@code AttentionStore} keys them.
 */
final class AttentionLayerRegistry {

    private final List<AttentionLayerInfo> layers = new ArrayList<>();
    private final Map<UNetPlace, int[]> counts = new EnumMap<>(UNetPlace.class);

    /** @return the layer's forward index */
    int register(UNetPlace place, AttentionKind kind, String modulePath, int downsampleFactor, int heads) {
        int[] perKind = counts.computeIfAbsent(place, ignored -> new int[AttentionKind.values().length]);
        int order = perKind[kind.ordinal()]++;
        layers.add(new AttentionLayerInfo(new AttentionLayerId(place, kind, order), modulePath, downsampleFactor,
                heads));
        return layers.size() - 1;
    }

    List<AttentionLayerInfo> layers() {
        return List.copyOf(layers);
    }
}

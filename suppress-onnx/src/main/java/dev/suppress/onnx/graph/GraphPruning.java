package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.SparseTensorProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Graph surgery on a {@link GraphProto}: new outputs, and cutting a graph down to the nodes that given outputs
 * depend on (what {@code onnx.utils.extract_model} does, without its shape inference).
 */
final class GraphPruning {

    private GraphPruning() {
    }

    /** Which node produces each tensor: node index by output name. */
    static Map<String, Integer> producers(GraphProto graph) {
        Map<String, Integer> producers = new HashMap<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            for (String output : graph.getNode(i).getOutputList()) {
                if (!output.isEmpty()) {
                    producers.put(output, i);
                }
            }
        }
        return producers;
    }

    /** Indices of the nodes that {@code targets} depend on, each marked in the returned array. */
    static boolean[] ancestors(GraphProto graph, Map<String, Integer> producers, Iterable<String> targets) {
        boolean[] needed = new boolean[graph.getNodeCount()];
        Deque<String> pending = new ArrayDeque<>();
        targets.forEach(pending::add);
        Set<String> seen = new HashSet<>();
        while (!pending.isEmpty()) {
            String tensor = pending.pop();
            if (!seen.add(tensor)) {
                continue;
            }
            Integer producer = producers.get(tensor);
            if (producer == null || needed[producer]) {
                continue;
            }
            needed[producer] = true;
            NodeProto node = graph.getNode(producer);
            pending.addAll(node.getInputList());
            // If/Loop/Scan bodies may read tensors of this graph by name (outer-scope references).
            for (AttributeProto attribute : node.getAttributeList()) {
                if (attribute.hasG()) {
                    collectNames(attribute.getG(), pending);
                }
                for (GraphProto body : attribute.getGraphsList()) {
                    collectNames(body, pending);
                }
            }
        }
        return needed;
    }

    private static void collectNames(GraphProto body, Deque<String> into) {
        for (NodeProto node : body.getNodeList()) {
            into.addAll(node.getInputList());
            for (AttributeProto attribute : node.getAttributeList()) {
                if (attribute.hasG()) {
                    collectNames(attribute.getG(), into);
                }
                for (GraphProto nested : attribute.getGraphsList()) {
                    collectNames(nested, into);
                }
            }
        }
    }

    /**
     * The graph reduced to what {@code outputs} need: the nodes they depend on (in their original, topological,
     * order), the initializers, inputs and value infos those nodes read, and {@code outputs} as the only outputs.
     *
     * @param graph   the graph; not modified
     * @param outputs the new outputs, each naming a tensor of the graph
     */
    static GraphProto cut(GraphProto graph, List<ValueInfoProto> outputs) {
        Map<String, Integer> producers = producers(graph);
        boolean[] needed = ancestors(graph, producers, outputs.stream().map(ValueInfoProto::getName).toList());
        Set<String> used = new HashSet<>();
        for (ValueInfoProto output : outputs) {
            used.add(output.getName());
        }
        GraphProto.Builder builder = graph.toBuilder()
                .clearNode().clearInitializer().clearSparseInitializer().clearInput().clearOutput().clearValueInfo();
        for (int i = 0; i < needed.length; i++) {
            if (needed[i]) {
                NodeProto node = graph.getNode(i);
                builder.addNode(node);
                used.addAll(node.getInputList());
                used.addAll(node.getOutputList());
                ArrayDeque<String> outerScope = new ArrayDeque<>();
                for (AttributeProto attribute : node.getAttributeList()) {
                    if (attribute.hasG()) {
                        collectNames(attribute.getG(), outerScope);
                    }
                    for (GraphProto body : attribute.getGraphsList()) {
                        collectNames(body, outerScope);
                    }
                }
                used.addAll(outerScope);
            }
        }
        for (ValueInfoProto input : graph.getInputList()) {
            if (used.contains(input.getName())) {
                builder.addInput(input);
            }
        }
        for (TensorProto initializer : graph.getInitializerList()) {
            if (used.contains(initializer.getName())) {
                builder.addInitializer(initializer);
            }
        }
        for (SparseTensorProto initializer : graph.getSparseInitializerList()) {
            if (used.contains(initializer.getValues().getName())) {
                builder.addSparseInitializer(initializer);
            }
        }
        for (ValueInfoProto info : graph.getValueInfoList()) {
            if (used.contains(info.getName())) {
                builder.addValueInfo(info);
            }
        }
        builder.addAllOutput(outputs);
        return builder.build();
    }
}

/**
 * Editing ONNX graphs before ONNX Runtime sees them: exposing the UNet's attention Softmax outputs
 * ({@link dev.suppress.onnx.graph.AttentionGraphEditor}), cutting the UNet to what they need, and making the VAE
 * encoder output its posterior mean ({@link dev.suppress.onnx.graph.PosteriorMeanEditor}). Models are the ONNX
 * protobuf messages of {@code ai.onnx.proto.OnnxMl} (onnx-ml.proto of ONNX 1.17, from {@code tribuo-util-onnx}),
 * read and written by {@link dev.suppress.onnx.graph.OnnxModelFile}.
 */
package dev.suppress.onnx.graph;

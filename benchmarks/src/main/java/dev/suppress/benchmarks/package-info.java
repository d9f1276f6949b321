/**
 * Measurements of the library, never run by the build: one JMH class per measured concept
 * ({@code java -jar benchmarks/target/benchmarks.jar}), the fast-vs-reference comparison ({@link
 * dev.suppress.benchmarks.FastVsReference}) and the repeated-generation memory run ({@link
 * dev.suppress.benchmarks.RepeatedGenerations}). They read the tiny model of {@code ../shared/fixtures} (see
 * {@link dev.suppress.benchmarks.Fixtures}).
 */
package dev.suppress.benchmarks;

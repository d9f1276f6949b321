/**
 * The {@code suppress} command-line tool: {@link dev.suppress.examples.cli.SuppressCli} with one picocli class per
 * subcommand ({@code generate}), the options they share in {@code SuppressCommand} and its mixins.
 */
package dev.suppress.examples.cli;

/**
 * The {@code dmashare} command line: {@code demo}, {@code backends}, {@code share} and
 * {@code help}; {@code --help} and {@code --version} on every command. {@code --plugin-path} adds
 * backends from jars and folders. Every argument, output paths included, is checked before any
 * work: a bad one prints one line on stderr and exits with 2; a library or file-system error
 * prints one line and exits with 1.
 */
package org.dmashare.examples.cli;

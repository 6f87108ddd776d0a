/**
 * The {@code dmashare} command line: {@code demo}, {@code backends} and {@code share}. Bad
 * arguments print one line on stderr and exit with 2; a library error prints one line and exits
 * with 1.
 */
package org.dmashare.examples.cli;

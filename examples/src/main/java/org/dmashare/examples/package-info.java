/**
 * Runnable examples of dmashare: the DCP/PIODMA driver callbacks before and after migration
 * ({@code dcp}), the {@code dmashare} command line ({@code cli}) and a backend written as a user
 * would ({@code flat}).
 */
package org.dmashare.examples;

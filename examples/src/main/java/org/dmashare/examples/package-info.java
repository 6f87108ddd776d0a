/**
 * Runnable examples of dmashare: the quick-start demo. The example of a custom backend written as a
 * user would write one is in {@code org.dmashare.examples.flat}.
 */
package org.dmashare.examples;

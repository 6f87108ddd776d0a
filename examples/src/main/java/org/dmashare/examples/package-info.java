/** Runnable examples of dmashare: the quick-start demo. */
package org.dmashare.examples;

/**
 * The exception hierarchy shared by every dmashare package: one unchecked base type,
 * {@link org.dmashare.DmaShareException}, and one subtype per cause a caller can act on.
 */
package org.dmashare;

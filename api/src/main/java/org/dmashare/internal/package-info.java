/**
 * Implementation helpers shared by the core's packages; not exported from the module and not part
 * of the API.
 */
package org.dmashare.internal;

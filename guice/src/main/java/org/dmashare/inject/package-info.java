/**
 * Optional Google Guice wiring: {@link org.dmashare.inject.DmaShareModule} binds the discovered
 * IOMMU backends, a {@link org.dmashare.memory.PhysicalMemory} and the
 * {@link org.dmashare.sharing.DmaSharing} helper. Nothing else in dmashare needs Guice.
 */
package org.dmashare.inject;

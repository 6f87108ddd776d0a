/**
 * A third IOMMU backend, written as a user outside the project would write one: {@code flat}, a
 * single-level IOMMU with 64 KiB pages. One 64 KiB table of 8192 entries maps a 512 MiB IOVA
 * space; its entry format ({@link org.dmashare.examples.flat.FlatFormat}) plugs into the shared
 * page-table engine, {@link org.dmashare.examples.flat.FlatIommu} models the unit's per-stream
 * registers, and {@link org.dmashare.examples.flat.FlatBackend} is registered with
 * {@code @AutoService} so {@link java.util.ServiceLoader} finds it. Its test suite runs the
 * conformance kit of {@code dmashare-testkit}.
 */
package org.dmashare.examples.flat;

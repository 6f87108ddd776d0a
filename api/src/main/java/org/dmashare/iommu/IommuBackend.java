package org.dmashare.iommu;

import java.util.List;
import org.dmashare.InvalidArgumentException;
import org.dmashare.memory.PhysicalMemory;

/**
 * A kind of IOMMU hardware, found with {@link java.util.ServiceLoader} (see {@link IommuBackends}).
 * Implementations are registered as services of this interface, for example with
 * {@code @AutoService(IommuBackend.class)} and {@code provides} in {@code module-info.java}, and
 * must have a public no-argument constructor. They are stateless factories and thread-safe.
 */
public interface IommuBackend {

    /**
     * One variant a backend models.
     *
     * @param name the variant name passed in {@link IommuConfig#variant()}
     * @param granule the smallest page size in bytes
     * @param pageSizes bitmap of supported page sizes (bit n set: 2^n-byte pages), as Linux's
     *     {@code pgsize_bitmap}
     * @param description one line for listings
     */
    record Variant(String name, long granule, long pageSizes, String description) {}

    /**
     * The backend's unique name, for example {@code generic} or {@code apple-dart}.
     *
     * @return the name
     */
    String name();

    /**
     * The variants this backend can create, the default first.
     *
     * @return an immutable, non-empty list
     */
    List<Variant> variants();

    /**
     * Creates one IOMMU unit over {@code memory}. Its page tables are allocated from
     * {@code memory}'s page allocator.
     *
     * @param config variant, name, streams, widths and options
     * @param memory the physical memory the unit translates to
     * @return the new unit, with every stream blocked
     * @throws InvalidArgumentException if the variant is unknown or a setting is out of range; the
     *     message lists what is accepted
     */
    Iommu create(IommuConfig config, PhysicalMemory memory);

    /**
     * Looks up a variant by name.
     *
     * @param name the variant name
     * @return the variant
     * @throws InvalidArgumentException if this backend has no such variant; the message lists the
     *     variants it has
     */
    default Variant variant(String name) {
        for (Variant v : variants()) {
            if (v.name().equals(name)) {
                return v;
            }
        }
        throw new InvalidArgumentException("backend " + name() + " has no variant '" + name + "'; it has "
                + variants().stream().map(Variant::name).toList());
    }
}

package org.dmashare.generic;

import com.google.auto.service.AutoService;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;

/**
 * The {@code generic} backend: ARM-LPAE-style stage-1 IOMMUs.
 *
 * <p>Variants: {@code lpae-4k} (default; 4K|2M|1G), {@code lpae-16k} (16K|32M), {@code lpae-64k}
 * (64K|512M). Defaults: 16 streams (1..256 accepted), 48-bit input and output address sizes
 * (32..48 accepted). Option {@code bypass=true} lets identity domains be created; option
 * {@code contiguous=true} turns on the contiguous hint (see {@link LpaeFormat}), adding 64K|32M,
 * 2M|1G or 2M|16G to the page sizes.
 */
@AutoService(IommuBackend.class)
public final class GenericBackend implements IommuBackend {
    /** The backend's name. */
    public static final String NAME = "generic";
    /** Streams when the configuration says 0. */
    public static final int DEFAULT_STREAMS = 16;
    /** Address width when the configuration says 0. */
    public static final int DEFAULT_ADDRESS_BITS = 48;

    private static final int MAX_STREAMS = 256;
    private static final Set<String> OPTIONS = Set.of("bypass", "contiguous");

    private static final List<Variant> VARIANTS = List.of(
            new Variant("lpae-4k", 1L << 12, LpaeFormat.pageSizesFor(12), "ARM LPAE stage-1, 4 KiB granule: 4K|2M|1G"),
            new Variant("lpae-16k", 1L << 14, LpaeFormat.pageSizesFor(14), "ARM LPAE stage-1, 16 KiB granule: 16K|32M"),
            new Variant(
                    "lpae-64k", 1L << 16, LpaeFormat.pageSizesFor(16), "ARM LPAE stage-1, 64 KiB granule: 64K|512M"));

    /** Creates the backend; {@link java.util.ServiceLoader} calls this. */
    public GenericBackend() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    /**
     * Creates a generic LPAE unit.
     *
     * @param config variant ({@code lpae-4k}, {@code lpae-16k}, {@code lpae-64k}), streams
     *     (1..256), input and output bits (32..48), options {@code bypass} and {@code contiguous}
     * @param memory the memory it translates to
     * @return the unit, every stream blocked
     * @throws InvalidArgumentException if a setting is out of range or an option unknown
     */
    @Override
    public Iommu create(IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        Variant variant = variant(config.variant());
        config.requireKnownOptions(NAME, OPTIONS);
        int streams = config.streamsOr("backend " + NAME, DEFAULT_STREAMS, MAX_STREAMS);
        int ias = config.inputBits() == 0 ? DEFAULT_ADDRESS_BITS : config.inputBits();
        int oas = config.outputBits() == 0 ? DEFAULT_ADDRESS_BITS : config.outputBits();
        LpaeFormat format = new LpaeFormat(
                Long.numberOfTrailingZeros(variant.granule()), ias, oas, config.flag("contiguous", false));
        return new GenericIommu(variant, config.name(), memory, streams, format, config.flag("bypass", false));
    }

    @Override
    public String toString() {
        return "IommuBackend[" + NAME + "]";
    }
}

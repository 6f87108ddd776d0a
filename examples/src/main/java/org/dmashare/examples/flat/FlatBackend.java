package org.dmashare.examples.flat;

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
 * The {@code flat} backend: a simple single-level IOMMU with 64 KiB pages, the example of a
 * backend written outside the project. One variant, {@code flat-64k}. Defaults: 4 streams
 * (1..64 accepted), 29-bit IOVAs (the only width), 40-bit physical addresses (32..40 accepted).
 * No options.
 */
@AutoService(IommuBackend.class)
public final class FlatBackend implements IommuBackend {
    /** The backend's name. */
    public static final String NAME = "flat";
    /** Streams when the configuration says 0. */
    public static final int DEFAULT_STREAMS = 4;

    private static final int MAX_STREAMS = 64;
    private static final List<Variant> VARIANTS = List.of(new Variant(
            "flat-64k",
            1L << FlatFormat.PAGE_SHIFT,
            1L << FlatFormat.PAGE_SHIFT,
            "single-level table, 64 KiB pages, 512 MiB IOVA space"));

    /** Creates the backend; {@link java.util.ServiceLoader} calls this. */
    public FlatBackend() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    /**
     * Creates a flat unit.
     *
     * @param config variant {@code flat-64k}, streams 1..64, input bits 0 or 29, output bits 32..40
     * @param memory the memory it translates to and takes its tables from
     * @return the unit, every stream blocked
     * @throws InvalidArgumentException if a setting is out of range or an option is given
     */
    @Override
    public Iommu create(IommuConfig config, PhysicalMemory memory) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(memory, "memory");
        Variant variant = variant(config.variant());
        config.requireKnownOptions(NAME, Set.of());
        int streams = config.streamsOr("backend " + NAME, DEFAULT_STREAMS, MAX_STREAMS);
        if (config.inputBits() != 0 && config.inputBits() != FlatFormat.INPUT_BITS) {
            throw new InvalidArgumentException("backend " + NAME + " has a fixed " + FlatFormat.INPUT_BITS
                    + "-bit IOVA space, got input bits " + config.inputBits());
        }
        int oas = config.outputBits() == 0 ? FlatFormat.MAX_OUTPUT_BITS : config.outputBits();
        return new FlatIommu(variant, config.name(), memory, streams, new FlatFormat(oas));
    }

    @Override
    public String toString() {
        return "IommuBackend[" + NAME + "]";
    }
}

package org.example.iommu;

import com.google.auto.service.AutoService;
import java.util.List;
import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;

/** The {@code simple} backend, found with ServiceLoader: {@code IommuBackends.find("simple")}. */
@AutoService(IommuBackend.class)
public final class SimpleBackend implements IommuBackend {
    static final String NAME = "simple";
    private static final List<Variant> VARIANTS = List.of(new Variant("simple-64k", 1L << 16, 1L << 16,
            "single-level table, 64 KiB pages, 512 MiB IOVA space"));

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Variant> variants() {
        return VARIANTS;
    }

    @Override
    public Iommu create(IommuConfig config, PhysicalMemory memory) {
        Variant variant = variant(config.variant());            // refuses an unknown variant
        config.requireKnownOptions(NAME, Set.of());              // refuses any option
        int streams = config.streamsOr("backend " + NAME, 4, 64);
        if (config.inputBits() != 0 && config.inputBits() != SimpleFormat.INPUT_BITS
                || config.outputBits() != 0 && config.outputBits() != SimpleFormat.OUTPUT_BITS) {
            throw new InvalidArgumentException("backend " + NAME + " has " + SimpleFormat.INPUT_BITS
                    + "-bit IOVAs and " + SimpleFormat.OUTPUT_BITS + "-bit physical addresses, got input bits "
                    + config.inputBits() + ", output bits " + config.outputBits());
        }
        return new SimpleIommu(variant, config.name(), memory, streams);
    }
}

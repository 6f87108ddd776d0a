package ${package};

import com.google.auto.service.AutoService;
import java.util.List;
import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;

/** The {@code ${backendName}} backend, found with ServiceLoader: {@code IommuBackends.find("${backendName}")}. */
@AutoService(IommuBackend.class)
public final class ${classPrefix}Backend implements IommuBackend {
    static final String NAME = "${backendName}";
    private static final List<Variant> VARIANTS = List.of(new Variant("${backendName}-64k", 1L << 16, 1L << 16,
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
        if (config.inputBits() != 0 && config.inputBits() != ${classPrefix}Format.INPUT_BITS
                || config.outputBits() != 0 && config.outputBits() != ${classPrefix}Format.OUTPUT_BITS) {
            throw new InvalidArgumentException("backend " + NAME + " has " + ${classPrefix}Format.INPUT_BITS
                    + "-bit IOVAs and " + ${classPrefix}Format.OUTPUT_BITS + "-bit physical addresses, got input bits "
                    + config.inputBits() + ", output bits " + config.outputBits());
        }
        return new ${classPrefix}Iommu(variant, config.name(), memory, streams);
    }
}

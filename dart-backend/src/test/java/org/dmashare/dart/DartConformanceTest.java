package org.dmashare.dart;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;
import org.junit.jupiter.api.Nested;

/**
 * Runs the backend conformance kit against every DART variant: 16 KiB pages only (no blocks),
 * write-only mappings (NO_READ), sub-page protection through {@link DartDomain}'s map, bypass when
 * the instance says so. The kit's mixed checks pair each DART with the generic backend.
 */
class DartConformanceTest {

    /** DART's sub-page protection, applied by re-mapping the page with a window. */
    static final Capabilities.SubPageProtection SUBPAGE = (domain, iova, first, last) -> {
        long pa = domain.iovaToPhys(iova);
        domain.unmap(iova, 0x4000);
        ((DartDomain) domain).map(iova, pa, 0x4000, Prot.READ_WRITE, first, last + 1);
    };

    abstract static class Variant extends IommuBackendConformanceKit {
        abstract String variant();

        boolean bypass() {
            return false;
        }

        @Override
        protected Iommu createIommu(PhysicalMemory memory, int streams) {
            return new DartBackend()
                    .create(
                            IommuConfig.builder(variant())
                                    .name("dart-" + variant())
                                    .streams(streams)
                                    .option("bypass", Boolean.toString(bypass()))
                                    .build(),
                            memory);
        }

        @Override
        protected Capabilities capabilities() {
            return Capabilities.builder(0x4000)
                    .pageSizes(0x4000)
                    .streams(16)
                    .writeOnly(true)
                    .bypass(bypass())
                    .subPageProtection(SUBPAGE)
                    .tableLifetime(TableLifetime.UNTIL_FREED)
                    .build();
        }
    }

    @Nested
    class T8020 extends Variant {
        @Override
        String variant() {
            return "t8020";
        }
    }

    @Nested
    class T6000WithBypass extends Variant {
        @Override
        String variant() {
            return "t6000";
        }

        @Override
        boolean bypass() {
            return true;
        }
    }

    @Nested
    class T8110 extends Variant {
        @Override
        String variant() {
            return "t8110";
        }
    }
}

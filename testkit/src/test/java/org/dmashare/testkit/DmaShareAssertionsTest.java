package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.dmashare.testkit.DmaShareAssertions.assertThat;

import java.util.List;
import java.util.Set;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/** The domain assertions pass on what is true and fail, saying what the walk found, on what is not. */
class DmaShareAssertionsTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 26, 4096);
    private final Iommu unit = TestBackend.create(memory, 2, 12, Set.of());
    private final IommuDomain domain = unit.createDomain();

    @Test
    void translatesPassesOnTheMappedAddressAndFailsNamingWhatTheWalkFound() {
        unit.device(0).attach(domain);
        long pa = memory.base() + 0x5000;
        domain.map(0x1000, pa, 0x1000, Prot.READ);
        assertThat(domain)
                .translates(0x1234)
                .to(pa + 0x234)
                .withLeafSize(0x1000)
                .allowing(Access.READ)
                .forbidding(Access.WRITE);
        assertThatThrownBy(() -> assertThat(domain).translates(0x1234).to(pa))
                .hasMessageContaining("expected IOVA 0x1234")
                .hasMessageContaining("to translate to 0x8_0000_5000")
                .hasMessageContaining("found 0x1234 -> 0x8_0000_5234");
        assertThatThrownBy(() -> assertThat(domain).translates(0x3000)).hasMessageContaining("found no valid leaf");
        assertThatThrownBy(() -> assertThat(domain).doesNotTranslate(0x1000))
                .hasMessageContaining("to have no translation");
        assertThatThrownBy(() -> assertThat(domain).translates(0x1000).allowing(Access.WRITE))
                .hasMessageContaining("to allow WRITE");
    }

    @Test
    void iommuAssertionsReadTheFaultLogAndTheIotlb() {
        unit.device(0).attach(domain);
        assertThat(unit).hasNoFaults().hasEmptyIotlb();
        assertThatThrownBy(() -> unit.device(0).read(0x7000, 1)).isInstanceOf(DeviceFaultException.class);
        assertThat(unit).hasLoggedFault(0, 0x7000, Access.READ, IommuFault.Reason.TRANSLATION);
        assertThatThrownBy(() -> assertThat(unit).hasNoFaults()).hasMessageContaining("but it logged");
        assertThatThrownBy(() -> assertThat(unit).hasLoggedFault(1, 0x7000, Access.READ, IommuFault.Reason.TRANSLATION))
                .hasMessageContaining("but its log holds");
        domain.map(0x1000, memory.base(), 0x1000, Prot.READ);
        unit.device(0).read(0x1000, 1);
        assertThatThrownBy(() -> assertThat(unit).hasEmptyIotlb()).hasMessageContaining("caches 1 translations");
    }

    @Test
    void aDomainWithoutDeviceCannotBeWalkedAndTheFailureSaysSo() {
        assertThatThrownBy(() -> assertThat(domain).doesNotTranslate(0x1000))
                .hasMessageContaining("has no device attached");
    }

    @Test
    void bufferAssertionsPassOnAHelperBufferAndCatchARedirectedPage() {
        unit.device(0).attach(domain);
        IommuDomain other = unit.createDomain();
        unit.device(1).attach(other);
        try (SharedBuffer b = new DmaSharing(memory).allocate(0x3000, List.of(domain, other))) {
            assertThatCode(() -> assertThat(b)
                            .isContiguousIn(domain)
                            .isContiguousInEveryDomain()
                            .isAligned()
                            .hasNoOverExposure())
                    .doesNotThrowAnyException();
            // Redirect the middle page of the buffer in one domain to a page that is not the buffer's.
            long foreign = memory.allocator().allocate(0x1000, PageUse.BUFFER);
            long iova = b.iova(domain);
            domain.unmap(iova + 0x1000, 0x1000);
            domain.map(iova + 0x1000, foreign, 0x1000, Prot.READ_WRITE);
            assertThatThrownBy(() -> assertThat(b).isContiguousIn(domain))
                    .hasMessageContaining("guarantee 1 (contiguous) broken: byte 0x1000");
            assertThatThrownBy(() -> assertThat(b).hasNoOverExposure())
                    .hasMessageContaining("guarantee 3 (no over-exposure) broken")
                    .hasMessageContaining("outside the buffer's blocks");
            domain.unmap(iova + 0x1000, 0x1000);
            domain.map(iova + 0x1000, b.physicalAddress(0x1000), 0x1000, Prot.READ_WRITE);
            memory.allocator().free(foreign, 0x1000);
        }
    }
}

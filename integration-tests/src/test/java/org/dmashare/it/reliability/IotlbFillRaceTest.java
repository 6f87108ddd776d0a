package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.examples.flat.FlatFormat;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.support.AbstractIommu;
import org.dmashare.iommu.support.BaseDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/**
 * Regression test for a race the concurrency campaign found: a device's table walk that read a
 * leaf before an unmap, and filled the IOTLB after the flush that followed it, left a stale
 * translation that outlived the flush, so after {@code close} a device could still reach the freed
 * (and reused) pages. Hardware's invalidation waits for walks in flight; the model must not cache
 * a translation whose walk began before a flush. The walk is paused deterministically between
 * reading the tables and filling the IOTLB with a one-level test unit whose walker waits on a latch.
 */
class IotlbFillRaceTest {

    /** A flat one-level unit whose hardware walk can be paused after it read the tables. */
    static final class PausableIommu extends AbstractIommu {
        final FlatFormat format = new FlatFormat(40);
        volatile long root;
        volatile CountDownLatch walked;
        volatile CountDownLatch resume;

        PausableIommu(PhysicalMemory memory) {
            super(
                    "pausable",
                    new IommuBackend.Variant("pausable-64k", 1L << 16, 1L << 16, "test unit"),
                    "pausable",
                    memory,
                    1,
                    FlatFormat.INPUT_BITS,
                    40);
        }

        @Override
        protected PagingDomain createPagingDomain() {
            return new PagingDomain(this, format, 0, 1L << FlatFormat.INPUT_BITS) {};
        }

        @Override
        protected void programStream(int streamId, BaseDomain domain) {
            root = domain != null && domain.type() == DomainType.PAGING
                    ? ((PagingDomain) domain).table().rootPa()
                    : 0;
        }

        @Override
        protected PageTableWalker.Result hardwareWalk(int streamId, long iova) {
            if (root == 0) {
                return new PageTableWalker.Result(null, IommuFault.Reason.BLOCKED, -1);
            }
            PageTableWalker.Result r = PageTableWalker.walk(memory(), format, root, iova);
            CountDownLatch w = walked;
            CountDownLatch go = resume;
            if (w != null && go != null) {
                walked = null;
                w.countDown();
                try {
                    assertThat(go.await(10, TimeUnit.SECONDS)).isTrue();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return r;
        }
    }

    @Test
    void aWalkInFlightDuringCloseLeavesNoStaleTranslationBehind() throws Exception {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 64L << 20, 4096);
        PausableIommu iommu = new PausableIommu(memory);
        IommuDomain domain = iommu.createDomain();
        iommu.device(0).attach(domain);
        DmaSharing sharing = new DmaSharing(memory);
        SharedBuffer buffer = sharing.allocate(0x1_0000, List.of(domain));
        long iova = buffer.iova(domain);
        ExecutorService device = Executors.newSingleThreadExecutor();
        try {
            iommu.walked = new CountDownLatch(1);
            iommu.resume = new CountDownLatch(1);
            CountDownLatch walked = iommu.walked;
            Future<byte[]> inFlight = device.submit(() -> iommu.device(0).read(iova, 4));
            assertThat(walked.await(10, TimeUnit.SECONDS))
                    .as("the device's walk read the tables")
                    .isTrue();
            buffer.close(); // unmap, flush the IOTLB, free the pages
            iommu.resume.countDown();
            inFlight.get(10, TimeUnit.SECONDS); // the access in flight completes, as on hardware
        } finally {
            device.shutdownNow();
        }
        assertThatThrownBy(() -> iommu.device(0).read(iova, 4))
                .as("after close the device reaches nothing: the flush removed what the walk in flight cached")
                .isInstanceOf(DeviceFaultException.class);
        assertThat(iommu.iotlbSize()).isZero();
    }
}

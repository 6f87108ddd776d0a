/**
 * dmashare's examples: the DCP/PIODMA driver callbacks before and after migration, the
 * {@code dmashare} command line, and {@code flat}, a backend written as a user would.
 */
module org.dmashare.examples {
    requires org.dmashare.api;
    requires org.dmashare.generic;
    requires org.dmashare.dart;
    requires org.dmashare.dmaapi;
    requires org.dmashare.inject;
    requires org.dmashare.v7s;
    requires org.dmashare.amd;
    requires com.google.guice;
    requires info.picocli;
    requires static com.google.auto.service;

    exports org.dmashare.examples.dcp;
    exports org.dmashare.examples.flat;
    exports org.dmashare.examples.cli;

    // picocli and Guice build commands and the platform reflectively.
    opens org.dmashare.examples.cli to
            info.picocli;
    opens org.dmashare.examples.dcp to
            com.google.guice;

    provides org.dmashare.iommu.IommuBackend with
            org.dmashare.examples.flat.FlatBackend;
}

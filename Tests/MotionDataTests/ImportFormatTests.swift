import Testing
@testable import MotionData

@Suite("Import formats from file names")
struct ImportFormatTests {
    @Test("endings and UI-PRMD angle files name their format; others are nil")
    func guesses() {
        #expect(ImportFormat.guess(fileName: "walk_ik.mot") == .opensim)
        #expect(ImportFormat.guess(fileName: "trial.STO") == .opensim)
        #expect(ImportFormat.guess(fileName: "s1.npz") == .npz)
        #expect(ImportFormat.guess(fileName: "Take01.BVH") == .bvh)
        #expect(ImportFormat.guess(fileName: "angles.csv.gz") == .csv)
        #expect(ImportFormat.guess(fileName: "m01_s01_e01_angles.txt") == .uiPRMD)
        #expect(ImportFormat.guess(fileName: "notes.txt") == nil)
        #expect(ImportFormat.guess(fileName: "data.h5") == nil)
    }

    @Test("folder formats have no file endings")
    func folderFormats() {
        #expect(ImportFormat.uiPRMD.fileSuffixes.isEmpty && ImportFormat.fgdi.fileSuffixes.isEmpty)
        #expect(!ImportFormat.fgdi.matches(fileName: "x.csv"))
        #expect(ImportFormat.csv.matches(fileName: "X.CSV"))
    }
}
